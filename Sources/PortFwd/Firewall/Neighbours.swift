import PortFwdCore
import PortFwdSystem

/// The other firewalls our forwarded traffic passes, read from the kernel: every base chain on
/// the forward hook, in any nftables table of the `ip`, `ip6` and `inet` families (libvirt's,
/// firewalld's, an admin's `/etc/nftables.conf`, iptables-nft's), and iptables-legacy's
/// FORWARD. What `status` and `check --kernel` name as suspects, and what tells admission
/// where its rule must go.
public enum Neighbours {
    /// iptables-nft's tables are nftables tables whose rules hold iptables extensions, which
    /// libnftables' JSON lists as opaque `xt` expressions: those are read with iptables-nft-save.
    static let iptablesTables: Set<String> = ["filter", "mangle", "raw", "security", "nat"]

    public static func survey(nft: NftablesRunner?, commands: CommandRunner, procNet: String) throws(PortFwdError) -> [FilterTable] {
        var tables: [FilterTable] = []
        if let nft {
            let chains = try NftFilterJSON.baseChains(try nft.list(.chains))
            var seen = Set<String>()
            for chain in chains where chain.hook == "forward" && ["ip", "ip6", "inet"].contains(chain.family) {
                let id = "\(chain.family) \(chain.table)"
                guard id != NftablesBackend.table, seen.insert(id).inserted else { continue }
                if let family = chain.family == "ip" ? Family.ipv4 : chain.family == "ip6" ? .ipv6 : nil,
                   iptablesTables.contains(chain.table), chain.name == chain.name.uppercased(),
                   let table = try? iptablesTable(Iptables(.nft, family, commands: commands, procNet: procNet), chain.table, name: "table \(id)") {
                    tables.append(table)
                    continue
                }
                let listing: String
                do { listing = try nft.list(.table(NftTableID(chain.family, chain.table))) } catch {
                    if error.code == .notFound { continue }
                    throw error
                }
                tables.append(try NftFilterJSON.table(listing, family: chain.family, name: chain.table))
            }
        }
        for family in Family.allCases {
            let legacy = Iptables(.legacy, family, commands: commands, procNet: procNet)
            for table in ["mangle", "filter"] where legacy.hasTables(table) {
                tables.append(try iptablesTable(legacy, table, name: "\(legacy.tool) table \(table)"))
            }
        }
        return tables
    }

    static func iptablesTable(_ iptables: Iptables, _ table: String, name: String) throws(PortFwdError) -> FilterTable {
        let saved = try iptables.save(table: table)[table]
        return IptablesRuleText.table(name: name, family: iptables.family, policies: saved.chains, rules: saved.rules.map { ($0.chain, $0.spec) })
    }

    /// The tables as they will be once admission put its rule where the policy wants one
    /// (for `check --kernel`, which installs nothing): ours inserted in a copy of each chain.
    public static func admitted(_ tables: [FilterTable], places: [any AdmissionPlace], admission: Admission) -> [FilterTable] {
        var result = tables
        for place in places where admission.wants(place, among: places) && !place.hasOurs {
            guard let (table, chain, index) = place.simulated,
                  let t = result.firstIndex(where: { $0.name == table }), result[t].chains[chain] != nil else { continue }
            let rule = FilterRule(conditions: [Condition(.ctMark(mask: admission.mark.value, value: admission.mark.value))], verdict: .accept,
                                  position: "our admission rule", text: "ct mark & \(admission.mark) == \(admission.mark) accept")
            result[t].chains[chain]!.rules.insert(rule, at: min(index, result[t].chains[chain]!.rules.count))
        }
        return result
    }
}
