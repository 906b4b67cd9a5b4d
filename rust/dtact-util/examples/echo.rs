// An echo server: one task per connection, each echoing what it reads until the peer closes.
//
// `cargo run -p dtact-util --example echo -- [ADDR] [WORKERS]`
// (defaults: `127.0.0.1:7007`, one worker per CPU). Try `nc 127.0.0.1 7007`.
use dtact_util::io::{DtactTcpListener, DtactTcpStream};

async fn serve(s: DtactTcpStream) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut total = 0u64;
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Ok(total);
        }
        s.write_all(&buf[..n]).await?;
        total += n as u64;
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:7007".to_string());
    let workers: u32 = args.next().map(|w| w.parse().expect("WORKERS: a number")).unwrap_or(0);
    let rt = dtact::Runtime::builder().workers(workers).build().expect("runtime");
    rt.block_on(dtact::spawn(async move {
        let l = DtactTcpListener::bind(addr.as_str()).await.expect("bind");
        eprintln!("echo: listening on {}", l.local_addr().expect("local_addr"));
        loop {
            match l.accept().await {
                Ok((s, _peer)) => {
                    let _ = s.set_nodelay(true);
                    dtact::spawn(async move {
                        if let Err(e) = serve(s).await {
                            eprintln!("echo: {e}");
                        }
                    });
                }
                Err(e) => eprintln!("echo: accept: {e}"),
            }
        }
    }))
    .expect("echo server");
}
