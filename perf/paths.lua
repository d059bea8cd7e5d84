-- wrk script: each request GETs a random line of the paths file given after `--`.
-- The requests are formatted once, in `init`: formatting one per request cost wrk about a
-- tenth of its CPU, and wrk (one core) is the side that saturates first against goshelf.
local reqs = {}

init = function(args)
  for line in io.lines(args[1]) do
    reqs[#reqs + 1] = wrk.format("GET", line)
  end
  math.randomseed(os.time())
end

request = function()
  return reqs[math.random(#reqs)]
end
