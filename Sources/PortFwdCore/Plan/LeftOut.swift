/// A forward the plan leaves out, and why: what `status` lists, Prometheus counts
/// (`libvirt_portfwd_forwards_refused{guest,reason}`) and `forward add` reports. Left-out
/// forwards are a function of the plan's inputs like everything else: when the cause goes
/// away (the outranking guest stops, the host service closes, the dispute ends), the next plan
/// has the forward back.
public struct LeftOut: Sendable, Hashable {
    /// Why, as a kind a program can match on; `message` says it to a person.
    public enum Reason: String, Sendable, Hashable, CaseIterable, Codable {
        /// The admin's metadata policy (settings.metadata-*) refuses it.
        case policy
        /// A host service of root or a system user listens on its host port.
        case hostService = "host-service"
        /// Its guest's address is another guest's, or disputed.
        case addressDispute = "address-dispute"
        /// Another guest's forward holds its host port (a config forward, or one that was first).
        case portTaken = "port-taken"
        /// Two config forwards clash: the admin's own mistake, and both are out.
        case configConflict = "config-conflict"
        /// Its guest is on an isolated network (no `<forward>`), which no forward may open.
        case isolated
        /// Bound to a host address of a family the guest has no address of.
        case family
    }

    public let guest: GuestName
    public let uuid: DomainUUID?
    public let forward: Forward
    public let reason: Reason
    public let message: String

    public init(guest: GuestName, uuid: DomainUUID?, forward: Forward, reason: Reason, message: String) {
        self.guest = guest
        self.uuid = uuid
        self.forward = forward
        self.reason = reason
        self.message = message
    }
}
