//! A StatsD sender over UDP at a target rate of lines per second. Packets (several
//! lines each, as client libraries batch them) are built before sending starts; the
//! sender paces itself against the clock and reports what it achieved, with the
//! kernel's UDP receive-buffer drops over the run (Linux), which is where loss shows.

use crate::stats::Report;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct StatsdPlan {
    pub addr: String,
    pub rate: f64,
    pub count: u64,
    pub metrics: usize,
    pub lines_per_packet: usize,
}

struct Packet {
    bytes: Vec<u8>,
    lines: u64,
    /// The sum of the counter increments in the packet (each counter line adds 1).
    counter_increments: u64,
}

/// A mix like a service's: counters (70 %), timers (20 %), gauges (10 %), DogStatsD tags.
fn line(i: usize, metrics: usize) -> (String, bool) {
    let m = i % metrics.max(1);
    match m % 10 {
        0..=6 => (
            format!("bench.requests.m{m}:1|c|#env:bench,shard:{}", m % 8),
            true,
        ),
        7 | 8 => (
            format!("bench.latency.m{m}:{}|ms|#env:bench", 1 + (i * 7919) % 500),
            false,
        ),
        _ => (
            format!("bench.queue.m{m}:{}|g|#env:bench", (i * 104_729) % 1000),
            false,
        ),
    }
}

fn packets(plan: &StatsdPlan) -> Vec<Packet> {
    // Enough distinct packets to cycle through every metric several times.
    let lines_total = (plan.metrics * 4).max(plan.lines_per_packet);
    (0..lines_total)
        .step_by(plan.lines_per_packet.max(1))
        .map(|first| {
            let mut p = Packet {
                bytes: Vec::new(),
                lines: 0,
                counter_increments: 0,
            };
            for i in first..first + plan.lines_per_packet.max(1) {
                let (text, counter) = line(i, plan.metrics);
                if p.lines > 0 {
                    p.bytes.push(b'\n');
                }
                p.bytes.extend_from_slice(text.as_bytes());
                p.lines += 1;
                p.counter_increments += u64::from(counter);
            }
            p
        })
        .collect()
}

pub fn run(plan: &StatsdPlan) -> anyhow::Result<Report> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.connect(&plan.addr)?;
    let pool = packets(plan);
    let drops_before = udp_rcvbuf_errors();
    let (mut lines, mut packets_sent, mut counters, mut send_errors) = (0u64, 0u64, 0u64, 0u64);
    let started = Instant::now();
    for p in pool.iter().cycle() {
        if lines >= plan.count {
            break;
        }
        let due = started + Duration::from_secs_f64(lines as f64 / plan.rate);
        let now = Instant::now();
        if due > now + Duration::from_micros(200) {
            std::thread::sleep(due - now);
        }
        match socket.send(&p.bytes) {
            Ok(_) => {
                lines += p.lines;
                counters += p.counter_increments;
                packets_sent += 1;
            }
            Err(_) => send_errors += 1,
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut r = Report::default();
    r.add("lines_sent", lines)
        .add("packets_sent", packets_sent)
        .add("counter_increments_sent", counters)
        .add("send_errors", send_errors)
        .add("seconds", format!("{seconds:.3}"))
        .add("offered_lines_per_s", format!("{:.0}", plan.rate))
        .add(
            "achieved_lines_per_s",
            format!("{:.0}", lines as f64 / seconds),
        );
    if let (Some(before), Some(after)) = (drops_before, udp_rcvbuf_errors()) {
        r.add("kernel_udp_rcvbuf_drops", after.saturating_sub(before));
    }
    Ok(r)
}

/// `Udp: … RcvbufErrors` from /proc/net/snmp: datagrams the kernel dropped because a
/// receiver's buffer was full (machine-wide).
fn udp_rcvbuf_errors() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (udp.next()?, udp.next()?);
    let i = names.split_whitespace().position(|n| n == "RcvbufErrors")?;
    values.split_whitespace().nth(i)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_hold_the_requested_lines() {
        let plan = StatsdPlan {
            addr: String::new(),
            rate: 1.0,
            count: 0,
            metrics: 100,
            lines_per_packet: 8,
        };
        let pool = packets(&plan);
        assert_eq!(pool.len(), 50);
        for p in &pool {
            let text = std::str::from_utf8(&p.bytes).unwrap();
            assert_eq!(text.lines().count() as u64, p.lines);
            assert_eq!(
                text.lines().filter(|l| l.contains("|c")).count() as u64,
                p.counter_increments
            );
        }
    }

    #[test]
    fn sends_exactly_to_a_local_socket() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        let plan = StatsdPlan {
            addr: receiver.local_addr().unwrap().to_string(),
            rate: 1e6,
            count: 40,
            metrics: 10,
            lines_per_packet: 4,
        };
        let report = run(&plan).unwrap().to_string();
        assert!(report.contains("lines_sent=40 packets_sent=10"), "{report}");
        let mut buf = [0u8; 2048];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap().lines().count(), 4);
    }
}
