import Foundation
import PortFwdSystem
import Testing

/// A real libvirtd in its own network and mount namespaces (Tests/libvirt/lab.sh), with our
/// hook installed before it starts, a "guest" namespace on virbr0 that carries the traffic
/// diskless domains cannot, and a "client" namespace outside (198.51.100.2 and 203.0.113.2).
final class LibvirtLab {
    let name: String
    let work: String
    let configPath: String
    let stateDir: String
    let guestNS: String
    let clientNS: String
    private let env: [String: String]
    private var pids: [Int32] = []

    static let script = "\(Paths.root)/Tests/libvirt/lab.sh"
    static let base = "/tmp/libvirt-portfwd-lab"

    init(config: String, guestAddresses: [String] = ["192.168.122.10"]) throws {
        name = "pfl" + String(UInt32.random(in: 0..<UInt32.max), radix: 16)
        guestNS = "\(name)-guest"
        clientNS = "\(name)-client"
        work = "\(Self.base)/\(name)-files"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        configPath = "\(work)/portfwd.toml"
        stateDir = "\(work)/state"
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        env = [
            "LAB": name, "LAB_BASE": Self.base, "STP": "off",
            "GUEST_IP": guestAddresses[0], "GUEST_EXTRA_IPS": guestAddresses.dropFirst().joined(separator: " "),
            "LAB_PORTFWD": "\(Paths.binary) --config \(configPath) --state-dir \(stateDir)",
        ]
        do { try lab("up") } catch {
            close()
            throw error
        }
    }

    func close() {
        for pid in pids { kill(pid, SIGKILL) }
        for pid in pids { _ = Spawn.wait(pid) }
        pids.removeAll()
        _ = try? lab("down")
        try? FileManager.default.removeItem(atPath: work)
    }

    @discardableResult
    func lab(_ args: String) throws -> String {
        let exports = env.map { "\($0.key)=\(Lab.quote($0.value))" }.sorted().joined(separator: " ")
        return try Shell.run("env \(exports) \(Self.script) \(args)")
    }

    /// virsh inside the lab; returns stdout, throws with virsh's error on failure.
    @discardableResult
    func virsh(_ args: String) throws -> String { try lab("virsh \(args)") }

    func virshResult(_ args: String) -> Shell.Result {
        let exports = env.map { "\($0.key)=\(Lab.quote($0.value))" }.sorted().joined(separator: " ")
        return Shell.capture("env \(exports) \(Self.script) virsh \(args)")
    }

    func inLab(_ command: String) throws -> String { try lab("exec sh -c \(Lab.quote(command))") }

    /// Defines a diskless TCG domain with one interface on the default network.
    func define(_ domain: String, mac: String, metadata: String = "") throws {
        let xml = """
            <domain type='qemu'>
              <name>\(domain)</name>
              <memory unit='MiB'>64</memory>
              <vcpu>1</vcpu>
              <metadata>\(metadata)</metadata>
              <os><type arch='x86_64'>hvm</type></os>
              <devices>
                <interface type='network'>
                  <source network='default'/>
                  <mac address='\(mac)'/>
                  <model type='virtio'/>
                  <rom enabled='no'/>
                </interface>
                <memballoon model='none'/>
              </devices>
            </domain>
            """
        let path = "\(work)/\(domain).xml"
        try xml.write(toFile: path, atomically: true, encoding: .utf8)
        try virsh("define \(path)")
    }

    /// A socat server in the guest namespace answering with the address it was reached on.
    func serveInGuest(port: Int) throws {
        pids.append(try Spawn.start(["/usr/sbin/ip", "netns", "exec", guestNS, "socat", "TCP-LISTEN:\(port),fork,reuseaddr",
                                     "SYSTEM:echo guest-$SOCAT_SOCKADDR"]))
        for _ in 0..<50 {
            if Shell.capture("ip netns exec \(guestNS) ss -Hltn").stdout.contains(":\(port) ") { return }
            usleep(50_000)
        }
        throw Shell.Failure(command: "socat in \(guestNS)", status: -1, output: "server did not start")
    }

    /// Connects from the client namespace; nil when nothing answered.
    func connect(to address: String = "198.51.100.1", port: Int, attempts: Int = 1) -> String? {
        for attempt in 0..<attempts {
            if attempt > 0 { usleep(300_000) }
            let r = Shell.capture("ip netns exec \(clientNS) timeout 5 socat -T2 - TCP:\(address):\(port),connect-timeout=2 </dev/null")
            let text = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            if !text.isEmpty { return text }
        }
        return nil
    }

    func reach(_ address: String = "198.51.100.1", port: Int) -> String? { connect(to: address, port: port, attempts: 10) }

    /// Elements of our DNAT maps as `nft` lists them, one per line.
    func dnatElements() throws -> [String] {
        let text = try inLab("nft list map inet libvirt_portfwd dnat4_any")
        guard let open = text.range(of: "elements = {"), let close = text.range(of: "}", range: open.upperBound..<text.endIndex) else { return [] }
        return text[open.upperBound..<close.lowerBound].split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    var records: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: stateDir)) ?? []).filter { $0.hasSuffix(".json") }
    }
}
