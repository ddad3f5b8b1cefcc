/// Firewalls that reject or drop our DNATed connections before admission lets them through.
/// Each is installed in a lab's host namespace, with the lab's virbr0 standing in for libvirt's.
public enum Obstacle: String, CaseIterable, CustomStringConvertible, Sendable {
    /// libvirt 9's chains, through iptables-nft (Debian 12's default).
    case libvirtIptablesNft
    /// The same chains through iptables-legacy.
    case libvirtIptablesLegacy
    /// libvirt 9's ip6tables chains, in front of an IPv6 forward.
    case libvirtIp6tables
    /// libvirt >= 10.4's own `ip libvirt_network` table, emulated by hand.
    case libvirtNftables
    /// A FORWARD policy of DROP, as Docker sets it.
    case forwardPolicyDrop

    public var description: String { rawValue }

    public var family: String { self == .libvirtIp6tables ? "ipv6" : "ipv4" }

    /// The commands that build it, as libvirt 9.0 and 11.3 write them (their rules as listed on
    /// real hosts; the real libvirts run in the libvirt labs).
    public var script: String {
        switch self {
        case .libvirtIptablesNft: return Self.libvirtChains(tool: "iptables-nft", net: "192.168.122.0/24", reject: "icmp-port-unreachable")
        case .libvirtIptablesLegacy: return Self.libvirtChains(tool: "iptables-legacy", net: "192.168.122.0/24", reject: "icmp-port-unreachable")
        case .libvirtIp6tables: return Self.libvirtChains(tool: "ip6tables-nft", net: "fd00:122::/64", reject: "icmp6-port-unreachable")
        case .forwardPolicyDrop: return "iptables-nft -P FORWARD DROP"
        case .libvirtNftables:
            return """
                nft -f - <<'NFT'
                table ip libvirt_network {
                	chain forward {
                		type filter hook forward priority filter; policy accept;
                		counter jump guest_cross
                		counter jump guest_input
                		counter jump guest_output
                	}
                	chain guest_output {
                		iif "virbr0" ip saddr 192.168.122.0/24 counter accept
                		iif "virbr0" counter reject
                	}
                	chain guest_input {
                		oif "virbr0" ip daddr 192.168.122.0/24 ct state established,related counter accept
                		oif "virbr0" counter reject
                	}
                	chain guest_cross {
                		iif "virbr0" oif "virbr0" counter accept
                	}
                }
                NFT
                """
        }
    }

    private static func libvirtChains(tool: String, net: String, reject: String) -> String {
        """
        set -e
        for c in LIBVIRT_FWX LIBVIRT_FWI LIBVIRT_FWO; do \(tool) -N $c; done
        \(tool) -A FORWARD -j LIBVIRT_FWX
        \(tool) -A FORWARD -j LIBVIRT_FWI
        \(tool) -A FORWARD -j LIBVIRT_FWO
        \(tool) -A LIBVIRT_FWX -i virbr0 -o virbr0 -j ACCEPT
        \(tool) -A LIBVIRT_FWI -d \(net) -o virbr0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
        \(tool) -A LIBVIRT_FWI -o virbr0 -j REJECT --reject-with \(reject)
        \(tool) -A LIBVIRT_FWO -s \(net) -i virbr0 -j ACCEPT
        \(tool) -A LIBVIRT_FWO -i virbr0 -j REJECT --reject-with \(reject)
        """
    }

    /// What libvirt does to its chains when a network restarts (`net-destroy`, `net-start`)
    /// or libvirtd restarts: the iptables backend flushes and refills its LIBVIRT_* chains and
    /// puts its jumps back if missing; the nftables backend deletes its rules by handle and
    /// inserts them again at the top of guest_input, adding only the jumps `forward` lacks.
    public var libvirtRestart: String {
        switch self {
        case .forwardPolicyDrop: return "true"
        case .libvirtNftables:
            return """
                for h in $(nft -a list chain ip libvirt_network guest_input | awk '/virbr0/ {print $NF}'); do
                    nft delete rule ip libvirt_network guest_input handle $h
                done
                nft insert rule ip libvirt_network guest_input oif "virbr0" counter reject
                nft insert rule ip libvirt_network guest_input oif "virbr0" ip daddr 192.168.122.0/24 ct state established,related counter accept
                """
        case .libvirtIptablesNft: return Self.refill(tool: "iptables-nft", net: "192.168.122.0/24", reject: "icmp-port-unreachable")
        case .libvirtIptablesLegacy: return Self.refill(tool: "iptables-legacy", net: "192.168.122.0/24", reject: "icmp-port-unreachable")
        case .libvirtIp6tables: return Self.refill(tool: "ip6tables-nft", net: "fd00:122::/64", reject: "icmp6-port-unreachable")
        }
    }

    private static func refill(tool: String, net: String, reject: String) -> String {
        """
        set -e
        \(tool) -F LIBVIRT_FWI
        \(tool) -A LIBVIRT_FWI -d \(net) -o virbr0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
        \(tool) -A LIBVIRT_FWI -o virbr0 -j REJECT --reject-with \(reject)
        """
    }

    /// Lists the rules of the chain admission must sit on top of.
    public var listing: String {
        switch self {
        case .libvirtIptablesNft, .forwardPolicyDrop: return "iptables-nft -S FORWARD"
        case .libvirtIptablesLegacy: return "iptables-legacy -S FORWARD"
        case .libvirtIp6tables: return "ip6tables-nft -S FORWARD"
        case .libvirtNftables: return "nft list chain ip libvirt_network forward"
        }
    }
}
