module cloudplatform/bench/loadgen

go 1.22
