module "example.com/m" // comment

go 1.21

require (
	example.com/a v1.0.0
	example.com/b v1.2.3 // indirect
)

retract [v1.0.0, v1.0.5]
replace example.com/a => ../a
