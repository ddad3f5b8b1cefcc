import Foundation
import PortFwdSystem

/// libvirt's lease file: written by libvirt, from what a guest's DHCP client asked for.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    for lease in Leases.parse(Data(bytes: data, count: size)) {
        precondition(lease.address.guestRefusal == nil, "a lease address that can be no guest's")
        precondition(lease.expiry >= 0)
    }
    return 0
}
