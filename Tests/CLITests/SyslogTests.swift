import Foundation
import Testing

/// What the tool sends to syslog, as a syslog daemon receives it: a private mount namespace
/// lays an overlay over /dev whose /dev/log is a socket this test reads (the host's /dev stays
/// as it is), and a private network namespace takes the rules. Other tests see the lines
/// through the stderr echo only, which is how a syslog call that sent a few bytes of a Swift
/// String's memory instead of the line (`X`, `[6B blob data]` in journald) went unnoticed.
@Suite(.privileged) struct RootSyslogTests {
    let dir = TempDir()

    @Test func eachLineArrivesWholeWithItsPriority() throws {
        dir.write("good.toml", Fixtures.web1)
        dir.write("bad.toml", "[[guest]]\nname = = broken\n")
        dir.write("receive.py", """
            import socket, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.bind("/dev/log")
            s.settimeout(10)
            open(sys.argv[1], "w").close()
            for _ in range(2):
                try:
                    print(s.recv(65536).decode(errors="replace"), flush=True)
                except socket.timeout:
                    break

            """)
        let d = dir.path
        dir.write("run.sh", """
            set -eu
            mkdir -p \(d)/up \(d)/work
            mount -t overlay test-dev -o lowerdir=/dev,upperdir=\(d)/up,workdir=\(d)/work /dev
            python3 \(d)/receive.py \(d)/ready >\(d)/received &
            receiver=$!
            trap 'kill $receiver 2>/dev/null || true' EXIT
            while [ ! -e \(d)/ready ]; do sleep 0.05; done
            \(Paths.binary) --config \(d)/good.toml --state-dir \(d)/state apply --all
            \(Paths.binary) --config \(d)/bad.toml --state-dir \(d)/state apply --all || true
            wait $receiver

            """)
        let r = Shell.capture("unshare --mount --net --propagation private sh \(d)/run.sh")
        #expect(r.status == 0, "\(r.stderr)")
        let lines = ((try? String(contentsOfFile: "\(d)/received", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        #expect(lines.count == 2, "\(lines)")
        // <30>: LOG_DAEMON | LOG_INFO; <27>: LOG_DAEMON | LOG_ERR. Then the time, the name and PID.
        #expect(lines.first?.hasPrefix("<30>") == true, "\(lines)")
        #expect(lines.first?.contains(" libvirt-portfwd[") == true, "\(lines)")
        #expect(lines.first?.hasSuffix("]: apply: installed 1 forward of 1 guest (every configured guest)") == true, "\(lines)")
        #expect(lines.last?.hasPrefix("<27>") == true, "\(lines)")
        #expect(lines.last?.contains("]: apply: \(d)/bad.toml: line 2") == true, "\(lines)")
    }
}
