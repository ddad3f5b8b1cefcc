import PortFwd
import PortFwdCore
import PortFwdSystem

/// The domain XML on the hook's stdin and in libvirt's status files: a guest owner writes its
/// metadata, title and description. Parsed, taken in as a guest, and its identity scanned.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = DomainIdentity.uuid(in: bytes)
    guard let domain = try? Domain.parse(bytes) else { return 0 }
    let (guest, _) = DomainIntake(config: Config()).take(domain, surroundings: Surroundings())
    if let guest {
        precondition(guest.uuid == domain.uuid && guest.name == domain.name)
        for f in guest.metadata.forwards { precondition((try? PortSpec.parse(f.spec.description)) == f.spec) }
    }
    return 0
}
