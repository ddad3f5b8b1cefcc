import PortFwdCore
import PortFwdSystem

/// libvirt's lease file: written by libvirt, from what a guest's DHCP client asked for.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    for lease in LeaseFile.parse(Array(UnsafeBufferPointer(start: data, count: size))) {
        precondition(lease.address.guestRefusal == nil, "a lease address that can be no guest's")
        precondition(lease.expiry >= 0)
        if let id = lease.clientID {
            precondition(!id.bytes.isEmpty && id.bytes.count <= 255, "a client-id of no length or too long")
            precondition(ClientID(id.description) == id, "a client-id that does not print back as it reads")
        }
    }
    return 0
}
