/// Interface names, as libvirt's bridges are named: what the plan takes in, before any
/// backend decides how its rules spell them (`InterfaceMatch`).
public enum InterfaceName {
    /// What Linux accepts as an interface name (`dev_valid_name`): 1 to 15 bytes, not `.` or
    /// `..`, without `/`, `:`, white space or NUL.
    public static func isLinuxName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        return !bytes.isEmpty && bytes.count <= 15 && name != "." && name != ".."
            && !bytes.contains { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ":") || $0 <= 0x20 || $0 == 0x7f }
    }
}
