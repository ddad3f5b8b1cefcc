import Foundation
import PortFwdSystem
import Testing

/// The libvirts the hook is proven on: Debian 12's own (libvirt 9.0, whose firewall is
/// iptables), and Debian 13's from a root built by scripts/test-root (libvirt 11.3) on each
/// of its firewall backends: iptables (Debian's default order) and nftables (Fedora, RHEL 10).
public enum LibvirtHost: String, CaseIterable, CustomStringConvertible, Sendable {
    case debian12 = "Debian 12"
    case debian13 = "Debian 13"
    case debian13Nftables = "Debian 13, nftables backend"

    public var description: String { rawValue }

    /// The root its daemons run from; nil for the host's own libvirt.
    public var root: String? {
        guard self != .debian12 else { return nil }
        return Self.trixie
    }

    /// libvirt's firewall_backend; nil for the release's default.
    var firewallBackend: String? { self == .debian13Nftables ? "nftables" : self == .debian13 ? "iptables" : nil }

    /// Whether libvirt's own rules live in its nftables tables (else in iptables-nft's FORWARD).
    public var libvirtNftables: Bool { self == .debian13Nftables }

    private static let trixie: String = {
        (try? Shell.run("\(Paths.root)/scripts/test-root trixie"))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "/nonexistent"
    }()
}

/// firewalld in the lab, started before libvirtd on a private system bus.
public enum FirewalldMode: String, Sendable, CustomStringConvertible {
    case none, standard, strict
    public var description: String { rawValue }
}

/// A real libvirtd in its own network and mount namespaces (Tests/libvirt/lab.sh), with our
/// hook installed before it starts, a "guest" namespace on virbr0 that carries the traffic
/// diskless domains cannot (192.168.122.10, fd00:122::10), and a "client" namespace outside
/// (198.51.100.2, 203.0.113.2, 2001:db8::2).
public final class LibvirtLab {
    public let name: String
    public let work: String
    public let configPath: String
    public let stateDir: String
    public let guestNS: String
    let clientNS: String
    private var env: [String: String] = [:]
    private var pids: [Int32] = []

    public static let script = "\(Paths.root)/Tests/libvirt/lab.sh"
    public static let base = "/tmp/libvirt-portfwd-lab"

    public let host: LibvirtHost
    public let firewalld: FirewalldMode
    /// Our backend, for the compatibility table.
    public var variant = Variant.nftables

    public init(config: String, host: LibvirtHost = .debian12, firewalld: FirewalldMode = .none, guestAddresses: [String] = ["192.168.122.10"],
         guestMAC: String = "52:54:00:00:00:10") throws {
        self.host = host
        self.firewalld = firewalld
        name = "pfl" + String(UInt32.random(in: 0..<UInt32.max), radix: 16)
        guestNS = "\(name)-guest"
        clientNS = "\(name)-client"
        work = "\(Self.base)/\(name)-files"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        configPath = "\(work)/portfwd.toml"
        stateDir = "\(work)/state"
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        var env = [
            "LAB": name, "LAB_BASE": Self.base, "STP": "off",
            "GUEST_IP": guestAddresses[0], "GUEST_EXTRA_IPS": guestAddresses.dropFirst().joined(separator: " "),
            "LAB_PORTFWD": "\(Paths.binary) --config \(configPath) --state-dir \(stateDir)",
        ]
        env["GUEST_MAC"] = guestMAC
        if let root = host.root { env["ROOT"] = root }
        if let backend = host.firewallBackend { env["FW_BACKEND"] = backend }
        if firewalld != .none { env["FIREWALLD"] = "1" }
        if firewalld == .strict { env["FIREWALLD_STRICT"] = "1" }
        self.env = env
        do { try lab("up") } catch {
            close()
            throw error
        }
        Self.ledger(host)
    }

    /// One line per real libvirtd brought up, by host: `make test`'s summary counts them per host
    /// and fails when a host ran none (its root missing, its cases all filtered out).
    private static func ledger(_ host: LibvirtHost) {
        let dir = "\(Paths.root)/.build/compat"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        append(host.rawValue, to: "\(dir)/labs.txt")
    }

    /// One write with O_APPEND: parallel tests never interleave inside a line.
    public static func append(_ line: String, to file: String) {
        let fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        defer { Foundation.close(fd) }
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    public func close() {
        for pid in pids { kill(pid, SIGKILL) }
        for pid in pids { _ = Spawn.wait(pid) }
        pids.removeAll()
        _ = try? lab("down")
        try? FileManager.default.removeItem(atPath: work)
    }

    @discardableResult
    public func lab(_ args: String) throws -> String {
        let exports = env.map { "\($0.key)=\(Lab.quote($0.value))" }.sorted().joined(separator: " ")
        return try Shell.run("env \(exports) \(Self.script) \(args)")
    }

    /// virsh inside the lab; returns stdout, throws with virsh's error on failure.
    @discardableResult
    public func virsh(_ args: String) throws -> String { try lab("virsh \(args)") }

    public func virshResult(_ args: String) -> Shell.Result {
        let exports = env.map { "\($0.key)=\(Lab.quote($0.value))" }.sorted().joined(separator: " ")
        return Shell.capture("env \(exports) \(Self.script) virsh \(args)")
    }

    public func inLab(_ command: String) throws -> String { try lab("exec sh -c \(Lab.quote(command))") }

    /// The tool inside the lab (its namespaces, and for a root its libnftables), on the lab's
    /// config and state.
    @discardableResult
    public func tool(_ arguments: String) throws -> String {
        try inLab("\(Paths.binary) --config \(configPath) --state-dir \(stateDir) \(arguments)")
    }

    /// A shell command line inside the lab.
    public func shell(_ command: String) -> Shell.Result {
        let exports = env.map { "\($0.key)=\(Lab.quote($0.value))" }.sorted().joined(separator: " ")
        return Shell.capture("env \(exports) \(Self.script) exec sh -c \(Lab.quote(command))")
    }

    public func toolResult(_ arguments: String) -> Shell.Result {
        let exports = env.map { "\($0.key)=\(Lab.quote($0.value))" }.sorted().joined(separator: " ")
        return Shell.capture("env \(exports) \(Self.script) exec sh -c "
            + "\(Lab.quote("\(Paths.binary) --config \(configPath) --state-dir \(stateDir) \(arguments)"))")
    }

    /// Connects from the guest namespace, or from the lab host itself, to an address of the host.
    public func connect(from where: String, to address: String = "198.51.100.1", port: Int) -> String? {
        let target = address.contains(":") ? "[\(address)]" : address
        let command = "timeout 5 socat -T2 - TCP:\(target):\(port),connect-timeout=2 </dev/null"
        for attempt in 0..<10 {
            if attempt > 0 { usleep(300_000) }
            let r = `where` == "host" ? Shell.capture("env LAB=\(name) LAB_BASE=\(Self.base) \(Self.script) exec sh -c \(Lab.quote(command))")
                : Shell.capture("ip netns exec \(guestNS) sh -c \(Lab.quote(command))")
            let text = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            if !text.isEmpty { return text }
        }
        return nil
    }

    /// A program inside the lab, in the background; ended by PID when the lab closes.
    public func startInLab(_ argv: [String]) throws -> pid_t {
        let exports = env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let pid = try Spawn.start(["/usr/bin/env"] + exports + [Self.script, "run"] + argv)
        pids.append(pid)
        return pid
    }

    /// The watch service inside the lab, ended by PID when the lab closes.
    public func startWatch() throws -> WatchProcess {
        let exports = env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let watch = try WatchProcess(["/usr/bin/env"] + exports + [Self.script, "run", Paths.binary, "--config", configPath, "--state-dir", stateDir,
                                                                   "watch", "--log", "stderr"], log: "\(work)/watch.log")
        pids.append(watch.pid)
        return watch
    }

    /// The chain where admission must come first, as lines of its rules.
    /// Whether a rule of ours that admits sits above libvirt's reject in `chain` (our accept,
    /// or the iptables backend's jump to its own chain), once.
    public static func admitsAboveReject(_ chain: [String]) -> Bool {
        let ours = chain.indices.filter { chain[$0].contains("libvirt-portfwd") && (chain[$0].hasSuffix("-j ACCEPT") || chain[$0].contains("accept")
            || chain[$0].hasSuffix("-j LIBVIRT_PORTFWD_FWD")) }
        guard ours.count == 1, let reject = chain.firstIndex(where: { $0.hasSuffix("-j LIBVIRT_FWI")
            || $0.contains("jump guest_input") }) else { return false }
        return ours[0] < reject
    }

    public func admissionChain() throws -> [String] {
        let listing = host.libvirtNftables ? try inLab("nft list chain ip libvirt_network forward") : try inLab("iptables -S FORWARD")
        return listing.split(separator: "\n").map(String.init).filter { $0.hasPrefix("-A") || ($0.hasPrefix("\t\t") && !$0.hasPrefix("\t\ttype ")) }
    }

    /// Defines a diskless TCG domain with one interface on the default network.
    public func define(_ domain: String, mac: String, metadata: String = "", network: String = "default") throws {
        let xml = """
            <domain type='qemu'>
              <name>\(domain)</name>
              <memory unit='MiB'>64</memory>
              <vcpu>1</vcpu>
              <metadata>\(metadata)</metadata>
              <os><type arch='x86_64'>hvm</type></os>
              <devices>
                <interface type='network'>
                  <source network='\(network)'/>
                  <mac address='\(mac)'/>
                  <model type='virtio'/>
                  <rom enabled='no'/>
                </interface>
                <memballoon model='none'/>
              </devices>
            </domain>
            """
        // Names here may hold spaces or start with dashes: the file is named by the MAC.
        let path = "\(work)/domain-\(mac.replacingOccurrences(of: ":", with: "")).xml"
        try xml.write(toFile: path, atomically: true, encoding: .utf8)
        try virsh("define \(path)")
    }

    /// Frames from the guest namespace naming `address` at `mac` (ARP, or NDP for IPv6): the
    /// host's neighbour table then has it there, as when a guest with that MAC talks, or when
    /// a guest owner forges a frame.
    public func announce(_ address: String, mac: String) throws { try lab("announce \(address) \(mac)") }

    /// Another guest's network stack at `mac`, holding `address`: it answers the host's question
    /// for it there, as a guest that uses the address does (`lab.sh standin`).
    public func standIn(_ address: String, mac: String) throws { try lab("standin \(address) \(mac)") }

    /// A socat server in the guest namespace answering with the address it was reached on.
    public func serveInGuest(port: Int) throws {
        // One server per family: a dual-stack socket would name IPv4 peers ::ffff:a.b.c.d.
        for listen in ["TCP4-LISTEN:\(port),fork,reuseaddr", "TCP6-LISTEN:\(port),ipv6only=1,fork,reuseaddr"] {
            pids.append(try Spawn.start(["/usr/sbin/ip", "netns", "exec", guestNS, "socat", listen, "SYSTEM:echo guest-$SOCAT_SOCKADDR"]))
        }
        for _ in 0..<50 {
            if Shell.capture("ip netns exec \(guestNS) ss -Hltn").stdout.contains(":\(port) ") { return }
            usleep(50_000)
        }
        throw Shell.Failure(command: "socat in \(guestNS)", status: -1, output: "server did not start")
    }

    /// Connects from the client namespace; nil when nothing answered.
    public func connect(to address: String = "198.51.100.1", port: Int, attempts: Int = 1) -> String? {
        for attempt in 0..<attempts {
            if attempt > 0 { usleep(300_000) }
            let target = address.contains(":") ? "[\(address)]" : address
            let r = Shell.capture("ip netns exec \(clientNS) timeout 5 socat -T2 - TCP:\(target):\(port),connect-timeout=2 </dev/null")
            let text = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            if !text.isEmpty { return text }
        }
        return nil
    }

    public func reach(_ address: String = "198.51.100.1", port: Int) -> String? { connect(to: address, port: port, attempts: 10) }

    /// Notes that this lab's setup passed the named cases, for the README's compatibility
    /// table (scripts/compat-table): host, versions read from the lab, backends, firewalld.
    public func record(_ cases: String, result: String = "forwards work") {
        let libvirt = (try? virsh("version --daemon"))?.split(separator: "\n").first { $0.contains("daemon") }?
            .split(separator: " ").last.map(String.init) ?? "?"
        var firewalldText = "none"
        if firewalld != .none {
            let version = (try? inLab("firewall-cmd --version"))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            firewalldText = "\(version)\(firewalld == .strict ? ", StrictForwardPorts=yes" : "")"
        }
        let backend = host.firewallBackend ?? "iptables"
        let row = [host.rawValue.components(separatedBy: ",")[0], libvirt, backend, firewalldText, variant.rawValue, result, cases]
            .joined(separator: "\t")
        let dir = "\(Paths.root)/.build/compat"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        Self.append(row, to: "\(dir)/rows.tsv")
    }

    /// Elements of our DNAT maps as `nft` lists them, one per line.
    public func dnatElements() throws -> [String] {
        let text = try inLab("nft list map inet libvirt_portfwd dnat4_any")
        guard let open = text.range(of: "elements = {"), let close = text.range(of: "}", range: open.upperBound..<text.endIndex) else { return [] }
        return text[open.upperBound..<close.lowerBound].split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    public var records: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: stateDir)) ?? []).filter { $0.hasSuffix(".json") }
    }
}
