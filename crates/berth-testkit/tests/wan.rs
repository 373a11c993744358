//! The WAN emulator carries TCP between the laptop's namespace and this
//! machine, and loses everything while the link is down.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use berth_testkit::wan::{Wan, profile};

#[test]
fn tcp_crosses_the_link_and_a_down_link_loses_everything() -> anyhow::Result<()> {
    let wan = Wan::new(profile("lan").expect("the lan profile"))?;
    let listener = TcpListener::bind((wan.server(), 0))?;
    let port = listener.local_addr()?.port();
    let server = std::thread::spawn(move || -> anyhow::Result<Vec<u8>> {
        let (mut socket, peer) = listener.accept()?;
        let mut got = Vec::new();
        socket.read_to_end(&mut got)?;
        socket.write_all(peer.ip().to_string().as_bytes())?;
        Ok(got)
    });
    let sent: Vec<u8> = (0..4_000_000u32).map(|i| (i % 251) as u8).collect();
    let laptop = wan.laptop();
    let answer = std::thread::scope(|scope| {
        scope
            .spawn(|| -> anyhow::Result<String> {
                wan.enter()?;
                // Loopback of this machine is not reachable from the laptop.
                assert!(
                    TcpStream::connect_timeout(
                        &(std::net::Ipv4Addr::LOCALHOST, port).into(),
                        Duration::from_secs(1)
                    )
                    .is_err()
                );
                let mut socket = TcpStream::connect((wan.server(), port))?;
                socket.write_all(&sent)?;
                socket.shutdown(std::net::Shutdown::Write)?;
                let mut answer = String::new();
                socket.read_to_string(&mut answer)?;
                Ok(answer)
            })
            .join()
            .expect("laptop thread")
    })?;
    assert_eq!(server.join().expect("server thread")?, sent);
    // The server saw the laptop's own address: the bytes came over the link.
    assert_eq!(answer, laptop.to_string());

    let receiver = UdpSocket::bind((wan.server(), 0))?;
    receiver.set_read_timeout(Some(Duration::from_millis(300)))?;
    let to = receiver.local_addr()?;
    let send = |payload: &'static [u8]| {
        std::thread::scope(|scope| {
            scope
                .spawn(|| -> anyhow::Result<()> {
                    wan.enter()?;
                    UdpSocket::bind((laptop, 0))?.send_to(payload, to)?;
                    Ok(())
                })
                .join()
                .expect("laptop thread")
        })
    };
    wan.set_down(true);
    send(b"lost")?;
    let mut buf = [0u8; 16];
    assert!(
        receiver.recv_from(&mut buf).is_err(),
        "a datagram crossed a down link"
    );
    wan.set_down(false);
    send(b"carried")?;
    let (n, _) = receiver.recv_from(&mut buf)?;
    assert_eq!(&buf[..n], b"carried");
    Ok(())
}
