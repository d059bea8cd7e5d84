-- wrk script: each request GETs a random line of the paths file given after `--`.
local paths = {}

init = function(args)
  for line in io.lines(args[1]) do
    paths[#paths + 1] = line
  end
  math.randomseed(os.time())
end

request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
