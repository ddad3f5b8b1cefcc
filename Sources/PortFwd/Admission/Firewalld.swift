import PortFwdCore
import PortFwdSystem

/// firewalld >= 2.3 with `StrictForwardPorts=yes` sends DNATed traffic through its chain
/// `filter_FORWARD_dnat`, which admits only firewalld's own forward-ports. There is no
/// mark-scoped way in (policies, rich rules and direct rules do not reach it, and a rule put
/// into firewalld's table is wiped on reload), so our forwards cannot work there: the tool
/// says so instead of reporting success. The chain exists only in strict mode.
public enum Firewalld {
    public static func strictForwardPorts(_ nft: NftablesRunner) throws(PortFwdError) -> Bool {
        try nft.exists(NftTableID("inet", "firewalld"), chain: "filter_FORWARD_dnat")
    }

    public static let strictProblem = "firewalld runs with StrictForwardPorts=yes, which rejects every forwarded connection "
        + "that is not one of firewalld's own forward-ports: these forwards cannot work; "
        + "set StrictForwardPorts=no in /etc/firewalld/firewalld.conf and reload firewalld"
}
