import PortFwdCore
import PortFwdSystem

/// The base chain `forward` of libvirt >= 10.4's own `ip`/`ip6 libvirt_network` tables. It jumps
/// to `guest_input`, whose `oif "virbr0" reject` turns our connections away. Our rule goes in
/// `forward` itself, directly above libvirt's first jump (first, unless someone put a rule
/// above libvirt's, which stays above ours):
///   insert rule ip libvirt_network forward ct mark & 0x10000000 == 0x10000000 counter accept comment "libvirt-portfwd mark 0x10000000"
/// libvirt re-inserts its own rules at the top of `guest_input` on every net-start and libvirtd
/// restart, which pushed a rule of ours there below its reject; in `forward` it only adds the
/// jumps that are missing, so ours stays above them. Older releases of this tool put the rule
/// into `guest_input`; any left there is removed.
public struct LibvirtForwardChain: AdmissionPlace {
    public let family: Family
    let mark: Mark
    let nft: NftablesRunner
    /// Rules of `forward`, in order, and ours in `guest_input`.
    let forward: [NftJSON.Rule]
    let guestInput: [NftJSON.Rule]

    public static let table = "libvirt_network"

    /// nil when libvirt has no such table here.
    static func survey(family: Family, mark: Mark, nft: NftablesRunner) throws(PortFwdError) -> LibvirtForwardChain? {
        // Asked first, cheaply: libvirt's firewall is iptables on many hosts (libvirt < 10).
        guard try nft.exists(Self.nftTable(family), chain: "forward") else { return nil }
        let forward: [NftJSON.Rule]
        do { forward = try NftJSON.rules(try nft.list(.chain(Self.nftTable(family), "forward"))) } catch {
            if error.code == .notFound { return nil }
            throw error
        }
        var guestInput: [NftJSON.Rule] = []
        do { guestInput = try NftJSON.rules(try nft.list(.chain(Self.nftTable(family), "guest_input"))) } catch {
            if error.code != .notFound { throw error }
        }
        return LibvirtForwardChain(family: family, mark: mark, nft: nft, forward: forward, guestInput: guestInput)
    }

    public var id: String { "\(family.nft) \(Self.table) forward" }

    /// libvirt's table of `family`: `ip libvirt_network`.
    static func nftTable(_ family: Family) -> NftTableID { NftTableID(family.nft, table) }

    public var kind: AdmissionKind { .libvirtNftables(family) }
    public var obstructs: Bool { true }

    /// The mark is part of the comment, so a changed mark is seen as a rule to replace.
    static func comment(_ mark: Mark) -> String { "\(Admission.comment) mark \(mark)" }

    static func isOurs(_ rule: NftJSON.Rule) -> Bool { rule.comment?.hasPrefix(Admission.comment) == true }

    private var ours: [NftJSON.Rule] { (forward + guestInput).filter(Self.isOurs) }
    public var hasOurs: Bool { !ours.isEmpty }
    /// Ours, once, in `forward`, above the jump to `guest_input` (libvirt's reject): wherever
    /// else that leaves it.
    public var isCorrect: Bool {
        guard ours.count == 1, let index = forward.firstIndex(where: Self.isOurs), forward[index].comment == Self.comment(mark),
              Self.admits(forward[index], mark) else { return false }
        return forward.firstIndex { $0.target == "guest_input" }.map { index < $0 } ?? true
    }

    /// Whether `rule` does what ours does, read from the kernel's expression rather than from
    /// its comment, which a replacement can copy: accept what carries the mark, and only that.
    /// A condition the reader leaves unknown is taken on the comment's word: a mark the admin
    /// named in /etc/iproute2/rt_marks is listed by that name, and must not make our own rule
    /// drift at every check; another verdict, mark or condition does.
    static func admits(_ rule: NftJSON.Rule, _ mark: Mark) -> Bool {
        guard rule.reading.count == 1, let reading = rule.reading.first, reading.verdict == .accept, !reading.conditions.isEmpty else {
            return false
        }
        return reading.conditions.allSatisfy { condition in
            switch condition.kind {
            case let .ctMark(mask, value): !condition.negated && mask == mark.value && value == mark.value
            case .unknown: true
            default: false
            }
        }
    }

    /// The first of libvirt's own jumps in `forward`: ours goes directly above it.
    var anchor: NftJSON.Rule? { forward.first { !Self.isOurs($0) && $0.target?.hasPrefix("guest_") == true } }

    public var simulated: (table: String, chain: String, index: Int)? {
        ("table \(family.nft) \(Self.table)", "forward", anchor.flatMap { a in forward.firstIndex(of: a) } ?? 0)
    }

    /// `ct mark & 0x10000000 == 0x10000000 counter accept comment "libvirt-portfwd mark 0x10000000"`
    static func rule(_ mark: Mark) -> NftRule { NftRule("ct mark & \(mark) == \(mark) counter accept", comment: comment(mark)) }

    public func assert() -> AdmissionEdit {
        let insert = NftCommand.insertRule(Self.nftTable(family), chain: "forward", Self.rule(mark), before: anchor?.handle)
        return .nft(NftTransaction(deletions() + [insert]), undo: undo)
    }

    public func clear() -> AdmissionEdit { .nft(NftTransaction(deletions()), undo: undo) }

    private func deletions() -> [NftCommand] { ours.map { .delete(.rule(Self.nftTable(family), chain: $0.chain, handle: $0.handle)) } }

    /// Puts the chains' rules of ours back as surveyed: removes whatever of ours is there now,
    /// then re-inserts the old ones, each before the rule that followed it.
    private func undo() throws(PortFwdError) {
        let id = Self.nftTable(family)
        var undoing: [NftCommand] = []
        for chain in ["forward", "guest_input"] {
            let now: [NftJSON.Rule]
            do { now = try NftJSON.rules(try nft.list(.chain(id, chain))) } catch {
                if error.code == .notFound { continue }
                throw error
            }
            undoing += now.filter(Self.isOurs).map { .delete(.rule(id, chain: chain, handle: $0.handle)) }
            let before = chain == "forward" ? forward : guestInput
            for (index, rule) in before.enumerated() where Self.isOurs(rule) {
                guard let old = rule.comment.flatMap(Self.mark(inComment:)) else { continue }
                // The next surveyed rule that is not ours and still exists anchors the position.
                let anchor = before[(index + 1)...].first { r in !Self.isOurs(r) && now.contains { $0.handle == r.handle } }
                undoing.append(anchor.map { .insertRule(id, chain: chain, Self.rule(old), before: $0.handle) }
                               ?? .addRule(id, chain: chain, Self.rule(old)))
            }
        }
        if !undoing.isEmpty { try nft.commit(NftTransaction(undoing)) }
    }

    static func mark(inComment comment: String) -> Mark? {
        let prefix = "\(Admission.comment) mark 0x"
        guard comment.hasPrefix(prefix), let value = Int(comment.dropFirst(prefix.count), radix: 16) else { return nil }
        return try? Mark(value)
    }
}
