//! Stopping leaves nothing behind.
use crate::harness::Cp;

fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks the process exists.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

#[test]
fn stop_ends_every_component() {
    let mut cp = Cp::start();
    let pids = cp.cp().pids();
    assert_eq!(
        pids.len(),
        3,
        "etcd, kube-apiserver, kube-controller-manager"
    );
    assert!(pids.iter().all(|p| alive(*p)));
    let plane = cp.cp.take().unwrap();
    cp.rt.block_on(plane.stop());
    for p in pids {
        assert!(!alive(p), "pid {p} still running after stop");
    }
}
