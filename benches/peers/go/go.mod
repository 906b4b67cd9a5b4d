module dtact/benches/peers/go

go 1.19
