import PortFwdCore
import PortFwdSystem

/// libvirt's lease file: written by libvirt, from what a guest's DHCP client asked for.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    for lease in LeaseFile.parse(Array(UnsafeBufferPointer(start: data, count: size))) {
        precondition(lease.address.guestRefusal == nil, "a lease address that can be no guest's")
        precondition(lease.expiry >= 0)
        if let text = lease.clientID {
            let id = ClientID(text)
            precondition(id.map { !$0.bytes.isEmpty && $0.bytes.count <= 255 } == true, "a client-id of no length, too long, or not one")
            precondition(id?.description == text, "a client-id not kept as libvirt prints it")
            precondition(Lease.isClientID(lease.client), "a client-id a record would refuse")
        }
    }
    return 0
}
