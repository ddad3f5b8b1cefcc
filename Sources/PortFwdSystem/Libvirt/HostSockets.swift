import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore

/// The host's own sockets (this network namespace): what a forward could hide, and whose they
/// are.
public enum HostSockets {
    /// Every listening TCP socket and bound UDP socket, IPv4 and IPv6. The host's own /proc/net
    /// is asked of the kernel through sock_diag, which does not walk every established
    /// connection as the files do; a tree of fixtures (`--libvirt-root`), or a kernel without
    /// sock_diag, is read from the files, with the same result.
    public static func listening(procNet: String) -> [Listener] {
        if procNet == LibvirtPaths().procNet, let asked = SocketDiag.listening() { return asked }
        return listening(files: procNet)
    }

    /// The same sockets from the files of `procNet`: tcp, tcp6, udp, udp6.
    public static func listening(files procNet: String) -> [Listener] {
        var result: [Listener] = []
        for (file, proto, state) in [("tcp", Proto.tcp, "0A"), ("tcp6", .tcp, "0A"), ("udp", .udp, "07"), ("udp6", .udp, "07")] {
            guard let text = SafeFile.kernelText("\(procNet)/\(file)", limit: 64 << 20) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count > 9, fields[3] == state, let local = endpoint(fields[1]), let inode = UInt64(fields[9]),
                      let uid = UInt32(fields[7]) else { continue }
                // A UDP socket connected to a peer takes only that peer's datagrams.
                if proto == .udp, let remote = endpoint(fields[2]), remote.port != 0 { continue }
                let address = local.address.isUnspecified ? nil : local.address
                result.append(Listener(proto: proto, address: address, port: local.port, inode: inode, uid: uid))
            }
        }
        return result
    }

    /// `0100007F:0016`, or 32 hex digits for IPv6: addresses as the kernel prints them, each
    /// 32-bit word in host (little-endian) order.
    static func endpoint(_ text: Substring) -> (address: IPAddress, port: UInt16)? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1], radix: 16), parts[0].count == 8 || parts[0].count == 32 else { return nil }
        var bytes: [UInt8] = []
        var word = parts[0].startIndex
        while word < parts[0].endIndex {
            let end = parts[0].index(word, offsetBy: 8)
            guard let value = UInt32(parts[0][word..<end], radix: 16) else { return nil }
            bytes += withUnsafeBytes(of: value.littleEndian, Array.init)
            word = end
        }
        return (IPAddress(family: bytes.count == 4 ? .ipv4 : .ipv6, bytes: bytes), port)
    }

    /// The process holding a socket, as `name (pid N)`, when it can be found.
    public static func owner(of inode: UInt64, proc: String = "/proc") -> String? {
        guard inode != 0, let pids = Directory.names(proc) else { return nil }
        let target = "socket:[\(inode)]"
        for pid in pids where pid.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            guard let fds = Directory.names("\(proc)/\(pid)/fd") else { continue }
            for fd in fds where (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(proc)/\(pid)/fd/\(fd)")) == target {
                let name = SafeFile.kernelText("\(proc)/\(pid)/comm")?.trimmed ?? "?"
                return "\(name) (pid \(pid))"
            }
        }
        return nil
    }
}
