module dtact/benches/peers/go-net

go 1.19
