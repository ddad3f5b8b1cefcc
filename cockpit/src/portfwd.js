/*
 * libvirt-portfwd's Cockpit page: every guest's forwards, their state and counters, and a form
 * that adds or removes one. Plain JavaScript over Cockpit's ../base1/cockpit.js (no npm, no build).
 *
 * The CLI is the only source of truth. The page reads `libvirt-portfwd status --json --all` (and
 * `forward list --json` where the status has only a spec string: pending, left out, not running)
 * and writes through `libvirt-portfwd forward add/remove`; it never reads the config, the kernel
 * or libvirt itself. Reads run with the user's own privileges first (members of group libvirt
 * read what the service publishes, where the CLI can), and through Cockpit's superuser "try" when
 * the CLI says it needs root (exit status 77) or cannot read as this user. Writes need superuser.
 *
 * The status JSON grows while this page lives: fields are read defensively, and those a newer
 * CLI adds are shown when present (per-forward `state`/`reason`, `delivered_packets`/`_bytes`,
 * `turned_away_by`, `left_out` and `refused` lists, `suspects` naming another firewall).
 *
 * Names of guests and everything else the CLI prints come from people other than the admin (a
 * guest owner names the domain): they reach the page as text nodes only, isolated with <bdi>.
 */
"use strict";

(function () {
    const _ = cockpit.gettext;
    const CLI = "libvirt-portfwd";
    /* How often the page reads the status; the published status's change also triggers a read. */
    const REFRESH_MS = 5000;
    /* `forward list` runs virsh per domain: only when the status's guests change, or this old. */
    const LIST_MAX_AGE_MS = 60000;
    /* Where the service publishes its status for group libvirt (the package's state directory). */
    const PUBLISHED = "/run/libvirt-portfwd/status.json";

    /* Every string the page shows, in one place. cockpit.gettext looks each one up in
     * po.LANG.js, which Cockpit serves as po.js beside this script; `xgettext --keyword=_`
     * extracts them. index.html holds no words: its data-t attributes name keys of this table. */
    const T = {
        title: _("Port forwards"),
        intro: _("Host ports forwarded to guests on libvirt's NAT networks, as libvirt-portfwd reports them."),
        loading: _("Loading…"),
        healthy: _("Healthy"),
        unhealthy: _("Problems"),
        serviceRunning: _("Service running"),
        serviceStopped: _("Service not running"),
        repairs: _("$0 repairs"),
        backendMode: _("Backend $0, mode $1"),
        updated: _("Updated $0"),
        viaUser: _("read with your own privileges"),
        viaSuperuser: _("read with administrative access"),
        problemsLabel: _("Problems"),
        warningsLabel: _("Warnings"),
        needAdmin: _("Reading the forwards needs administrative access, or membership of group libvirt where the libvirt-portfwd service publishes its status."),
        needAdminEdit: _("Adding and removing forwards needs administrative access."),
        notInstalledCli: _("libvirt-portfwd is not installed on this host."),
        readFailed: _("libvirt-portfwd status failed: $0"),
        badJSON: _("libvirt-portfwd printed no status this page can read."),
        noGuests: _("No guest has forwards."),
        addTitle: _("Add a forward"),
        fGuest: _("Guest"),
        fAddress: _("Host address"),
        fHostPort: _("Host port"),
        fGuestPort: _("Guest port"),
        fProto: _("Protocol"),
        fClients: _("Allowed clients"),
        hAddress: _("Empty: every address"),
        hHostPort: _("8080, or 8000-8010"),
        hGuestPort: _("Empty: the host port"),
        hClients: _("Networks (203.0.113.0/24, …); empty: anyone"),
        add: _("Add"),
        adding: _("Adding…"),
        addedWarning: _("Stored, but not installed yet:"),
        cHost: _("Host"),
        cGuest: _("Guest"),
        cProto: _("Protocol"),
        cClients: _("Clients"),
        cOrigin: _("Declared in"),
        cState: _("State"),
        cPackets: _("Packets"),
        cBytes: _("Bytes"),
        cDelivered: _("Delivered"),
        cActions: _("Actions"),
        caption: _("Forwards of guest $0"),
        anyone: _("anyone"),
        allAddresses: _("all addresses"),
        unknownAddress: _("address not known"),
        oConfig: _("config"),
        oDropIn: _("drop-in"),
        oMetadata: _("metadata"),
        gRunning: _("Running"),
        gPending: _("Pending"),
        gNotRunning: _("Not running"),
        gNotRunningNote: _("Its forwards apply when it starts."),
        sInstalled: _("Installed"),
        sPending: _("Pending"),
        sLeftOut: _("Left out"),
        sRefused: _("Refused"),
        sTurnedAway: _("Turned away"),
        sMayDrop: _("May be dropped"),
        sOff: _("Off"),
        sNotInstalled: _("Not installed"),
        sNotRunning: _("Not running"),
        rTurnedAwayBy: _("dropped by $0"),
        rMayDropBy: _("$0 may drop it"),
        rOff: _("forwards are off since libvirt-portfwd flush"),
        rDelivered: _("$0 of $1 packets delivered"),
        remove: _("Remove"),
        removing: _("Removing…"),
        removeLabel: _("Remove forward $0 of guest $1"),
        removeTitle: _("Remove a forward"),
        removeText: _("Remove forward $0 of guest $1? Its port stops forwarding at once."),
        removed: _("Removed $0 from $1."),
        cancel: _("Cancel"),
    };

    /* ---- reading the CLI's JSON: pure functions, no DOM ---- */

    const arr = v => Array.isArray(v) ? v : [];
    const str = v => typeof v === "string" ? v : (typeof v === "number" ? String(v) : null);
    const num = v => typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : null;

    /* A spec as the CLI writes it, `[HOST_ADDR:]HOST_PORT[-END][:GUEST_PORT[-END]][/PROTO]`, for
     * showing its parts where the status gives only the text; null when it is not one. */
    function parseSpec(spec) {
        if (typeof spec !== "string") return null;
        let rest = spec;
        let proto = "tcp";
        const slash = rest.lastIndexOf("/");
        if (slash >= 0) {
            proto = rest.slice(slash + 1);
            rest = rest.slice(0, slash);
        }
        let address = null;
        if (rest.startsWith("[")) {
            const close = rest.indexOf("]");
            if (close < 0 || rest[close + 1] !== ":") return null;
            address = rest.slice(1, close);
            rest = rest.slice(close + 2);
        }
        const parts = rest.split(":");
        if (address === null && (parts.length === 3 || (parts.length === 2 && parts[0].includes(".")))) address = parts.shift();
        if (parts.length < 1 || parts.length > 2) return null;
        const range = text => {
            const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
            return m ? [Number(m[1]), Number(m[2] ?? m[1])] : null;
        };
        const host = range(parts[0]);
        const guest = parts.length === 2 ? range(parts[1]) : host;
        if (!host || !guest) return null;
        if (address === "0.0.0.0" || address === "::") address = null;
        return { hostAddress: address, hostPort: host[0], hostPortLast: host[1], guestPort: guest[0], guestPortLast: guest[1], proto };
    }

    /* The spec the form's fields make. */
    function composeSpec(v) {
        let address = (v.address || "").trim();
        if (address.includes(":") && !address.startsWith("[")) address = "[" + address + "]";
        const guestPort = (v.guestPort || "").trim();
        const proto = v.proto || "tcp";
        return (address ? address + ":" : "") + (v.hostPort || "").trim() + (guestPort ? ":" + guestPort : "") +
            (proto !== "tcp" ? "/" + proto : "");
    }

    /* The form field a message of the CLI is about, so that it is shown next to that field. The
     * CLI names what it refuses ("bad port spec '…': port 99999 is over 65535", "'10.0.0.0/33' is
     * not …", "no domain is named '…'"); anything else (a clash with another forward, the
     * policy, a forward that exists) is about the host port the forward would take. */
    function fieldFor(message, v) {
        const m = message || "";
        const quoted = value => value && (m.includes("'" + value + "'") || m.includes(" " + value + " ") || m.endsWith(" " + value));
        if (/--source|CIDR/.test(m) || (v.clients || []).some(c => quoted(c))) return "clients";
        if (/bad port spec/.test(m)) {
            if (/protocol/.test(m)) return "proto";
            if (/address|IPv4|IPv6|loopback|link-local|broadcast|multicast|\[|\]/.test(m)) return "address";
            const guestPort = (v.guestPort || "").trim();
            const hostPort = (v.hostPort || "").trim();
            if (guestPort && guestPort !== hostPort && (quoted(guestPort) || m.includes("port " + guestPort + " ") ||
                m.includes("range " + guestPort + " ") || /guest range/.test(m) && !quoted(hostPort))) return "guestPort";
            return "hostPort";
        }
        if (/\bdomain\b|did you mean/.test(m)) return "guest";
        return "hostPort";
    }

    /* Where a forward is declared, as the CLI says it: `metadata`, `config`, or (a newer CLI)
     * `config (portfwd.d/web1.toml)` for a drop-in. */
    function originLabel(origin, file) {
        const o = str(origin);
        const where = str(file) || (o && /\((.*)\)/.exec(o)?.[1]) || null;
        if (o === "metadata") return { kind: "metadata", text: T.oMetadata, file: null };
        if ((where && where.includes("portfwd.d/")) || o === "drop-in") return { kind: "drop-in", text: T.oDropIn, file: where };
        if (o && o.startsWith("config")) return { kind: "config", text: T.oConfig, file: where };
        return o ? { kind: "other", text: o, file: where } : null;
    }

    /* A forward state a newer CLI writes per row or in `forward list` (`installed`, `pending: …`,
     * `left out (policy): …`, `off`, `not installed`), as one of this page's states and a reason. */
    function stateFromText(text) {
        const t = str(text);
        if (!t) return null;
        const m = /^([a-z][a-z -]*?)(?:\s*\(([^)]*)\))?(?::\s*(.*))?$/.exec(t);
        const word = (m ? m[1] : t).trim().replace(/ /g, "-");
        const known = ["installed", "pending", "left-out", "refused", "turned-away", "off", "not-installed", "not-running"];
        return { state: known.includes(word) ? word : "other", reason: m ? (m[3] || m[2] || null) : null, text: t };
    }

    /* One guest per name: running guests first, then the configured ones that do not run. Each
     * forward with where it comes from, its state and why, and its counters. */
    function model(status, list) {
        status = status && typeof status === "object" ? status : {};
        const guests = new Map();
        const guestOf = name => {
            let g = guests.get(name);
            if (!g) {
                g = { name, uuid: null, running: null, pending: null, forwards: new Map() };
                guests.set(name, g);
            }
            return g;
        };
        const forwardOf = (g, spec) => {
            let f = g.forwards.get(spec);
            if (!f) {
                f = {
                    spec, ...(parseSpec(spec) || { hostAddress: null, hostPort: null, hostPortLast: null, guestPort: null, guestPortLast: null, proto: null }),
                    guestAddress: null, sources: null, origin: null, addressSource: null, state: null, reason: null, notes: [],
                    packets: null, bytes: null, deliveredPackets: null, deliveredBytes: null,
                };
                g.forwards.set(spec, f);
            }
            return f;
        };
        const off = str(status.mode) === "off";

        for (const r of arr(status.forwards)) {
            const name = str(r?.guest); const spec = str(r?.spec);
            if (name === null || spec === null) continue;
            const g = guestOf(name);
            g.running = true;
            g.uuid = str(r.uuid) || g.uuid;
            const f = forwardOf(g, spec);
            if (r.host_port !== undefined) {
                f.hostAddress = str(r.host_address);
                f.hostPort = num(r.host_port); f.hostPortLast = num(r.host_port_last) ?? f.hostPort;
                f.guestPort = num(r.guest_port); f.guestPortLast = num(r.guest_port_last) ?? f.guestPort;
            }
            f.proto = str(r.proto) || f.proto;
            const target = str(r.target);
            if (target) f.guestAddress = target.replace(/:[0-9-]+$/, "").replace(/^\[(.*)\]$/, "$1");
            f.sources = arr(r.sources).map(str).filter(Boolean);
            f.origin = originLabel(r.origin, r.file ?? r.declared_in);
            f.addressSource = str(r.address_source);
            f.packets = num(r.packets); f.bytes = num(r.bytes);
            const delivered = r.delivered;
            f.deliveredPackets = num(r.delivered_packets) ?? num(delivered?.packets) ?? num(delivered);
            f.deliveredBytes = num(r.delivered_bytes) ?? num(delivered?.bytes);
            const given = stateFromText(r.state);
            const away = arr(r.turned_away_by).map(str).filter(Boolean);
            if (given) {
                f.state = given.state; f.reason = str(r.reason) || given.reason;
            } else if (away.length) {
                f.state = "turned-away"; f.reason = cockpit.format(T.rTurnedAwayBy, away.join(", "));
            } else if (off) {
                f.state = "off"; f.reason = T.rOff;
            } else {
                f.state = "installed"; f.reason = str(r.reason);
            }
        }
        for (const p of arr(status.pending)) {
            const name = str(p?.guest);
            if (name === null) continue;
            const g = guestOf(name);
            g.running = true;
            g.uuid = str(p.uuid) || g.uuid;
            g.pending = str(p.reason) || "";
            for (const spec of arr(p.forwards).map(str).filter(Boolean)) {
                const f = forwardOf(g, spec);
                f.state = "pending"; f.reason = g.pending;
                f.addressSource = str(p.address_source);
            }
        }
        for (const [key, state] of [["left_out", "left-out"], ["refused", "refused"]]) {
            for (const x of arr(status[key])) {
                const name = str(x?.guest); const spec = str(x?.spec) ?? str(x?.forward);
                if (name === null || spec === null) continue;
                const g = guestOf(name);
                g.running = true;
                g.uuid = str(x.uuid) || g.uuid;
                const f = forwardOf(g, spec);
                f.state = state;
                f.reason = str(x.message) || str(x.reason);
                if (x.sources) f.sources = arr(x.sources).map(str).filter(Boolean);
                if (x.origin) f.origin = originLabel(x.origin, x.file);
            }
        }
        /* Another firewall's chain that drops (sure) or may drop our traffic: "web1 8080:80". */
        for (const s of arr(status.suspects)) {
            const place = str(s?.place) || "";
            for (const label of arr(s?.forwards).map(str).filter(Boolean)) {
                const cut = label.lastIndexOf(" ");
                const f = guests.get(label.slice(0, cut))?.forwards.get(label.slice(cut + 1));
                if (!f) continue;
                if (s.sure === true) {
                    f.state = "turned-away"; f.reason = cockpit.format(T.rTurnedAwayBy, place);
                } else {
                    f.notes.push(cockpit.format(T.rMayDropBy, place));
                }
            }
        }
        for (const i of arr(status.not_running)) {
            const name = str(i?.guest);
            if (name === null) continue;
            const g = guestOf(name);
            if (g.running === null) g.running = false;
            for (const spec of arr(i.forwards).map(str).filter(Boolean)) {
                const f = forwardOf(g, spec);
                if (!f.state) f.state = "not-running";
            }
        }
        /* `forward list`: where each forward is declared and whom it lets in, which the status
         * says only of installed forwards; and the forwards of guests it does not mention. */
        for (const row of arr(list)) {
            const name = str(row?.guest); const spec = str(row?.spec);
            if (name === null || spec === null) continue;
            const g = guestOf(name);
            if (row.running === true) g.running = true;
            else if (row.running === false && g.running === null) g.running = false;
            const f = forwardOf(g, spec);
            if (f.sources === null) f.sources = arr(row.sources).map(str).filter(Boolean);
            if (f.origin === null) f.origin = originLabel(row.origin, row.file);
            if (!f.state) {
                const given = stateFromText(row.state);
                if (given) {
                    f.state = given.state; f.reason = given.reason;
                } else if (g.running) {
                    /* Running, listed, and neither installed nor pending: the plan left it out
                     * (an older CLI says why only in a warning that names it). */
                    f.state = off ? "off" : "not-installed";
                    f.reason = off ? T.rOff : arr(status.warnings).map(str).find(w => w && w.includes(spec) && w.includes(name)) || null;
                } else {
                    f.state = "not-running";
                }
            }
        }
        const all = [...guests.values()].map(g => ({ ...g, forwards: [...g.forwards.values()] }));
        const rank = g => g.running === true ? 0 : g.running === null ? 1 : 2;
        all.sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
        return {
            healthy: typeof status.healthy === "boolean" ? status.healthy : null,
            mode: str(status.mode),
            backend: str(status.backend),
            installed: status.installed === true,
            service: status.service && typeof status.service === "object"
                ? { running: status.service.running === true, repairs: num(status.service.repairs) } : null,
            problems: arr(status.problems).map(str).filter(Boolean),
            warnings: arr(status.warnings).map(str).filter(Boolean),
            hasNotRunning: Array.isArray(status.not_running),
            guests: all,
        };
    }

    /* What needs `forward list`: the specs whose details the status does not give. */
    function listSignature(status) {
        const parts = [];
        for (const p of arr(status?.pending)) parts.push("p " + str(p?.guest) + " " + arr(p?.forwards).join(","));
        for (const i of arr(status?.not_running)) parts.push("n " + str(i?.guest) + " " + arr(i?.forwards).join(","));
        for (const k of ["left_out", "refused"]) for (const x of arr(status?.[k])) parts.push("l " + str(x?.guest) + " " + str(x?.spec));
        if (!Array.isArray(status?.not_running)) parts.push("published");
        return parts.sort().join("\n");
    }

    /* What the CLI said on stderr beyond its problems and warnings: where a non-root reader gets
     * the service's published status, how old it is. */
    function stderrNotes(err, status) {
        const known = new Set([...arr(status?.problems), ...arr(status?.warnings)].map(str));
        return (err || "").split("\n").map(l => l.trim().replace(/^libvirt-portfwd: /, "").replace(/^warning: /, ""))
            .filter(l => l && !known.has(l)).slice(0, 5);
    }

    /* ---- running the CLI ---- */

    /* One run of the CLI: resolves with its exit status, stdout and stderr; never rejects. */
    function runCli(args, superuser) {
        const options = { err: "message" };
        if (superuser) options.superuser = superuser;
        return new Promise(resolve => {
            cockpit.spawn([CLI, ...args], options).then(
                (out, err) => resolve({ status: 0, problem: null, out: out || "", err: err || "" }),
                (ex, out) => resolve({ status: ex.exit_status ?? null, problem: ex.problem || null, out: out || "", err: ex.message || "" }));
        });
    }

    /* The CLI's own words for a failed run: its stderr without the usage lines. */
    function cliMessage(r) {
        if (r.problem === "access-denied") return T.needAdminEdit;
        if (r.problem === "not-found") return T.notInstalledCli;
        if (r.problem) return cockpit.message(r.problem);
        const lines = r.err.split("\n").map(l => l.trimEnd()).filter(l => l && !/^Usage: |^ {2}See '/.test(l));
        return lines.join("\n") || r.err.trim();
    }

    /* How each command reads: with the user's own privileges, until the CLI says it needs root
     * (exit status 77) or cannot read what it needs as this user (a drop-in only root may read),
     * then through superuser "try": root where administrative access is on. */
    const readAs = { status: "user", list: "user" };
    /* status exits 2 when unhealthy, with the same JSON on stdout. */
    const usable = r => (r.status === 0 || r.status === 2) && r.out.trim() !== "";

    async function readJSON(which, args) {
        let r = await runCli(args, readAs[which] === "superuser" ? "try" : null);
        if (readAs[which] === "user" && !usable(r) && !r.problem) {
            const again = await runCli(args, "try");
            if (usable(again) || r.status === 77) {
                readAs[which] = "superuser";
                r = again;
            }
        }
        if (usable(r)) {
            try {
                return { json: JSON.parse(r.out), r };
            } catch (e) {
                return { error: T.badJSON, r };
            }
        }
        return { error: r.status === 77 ? null : cliMessage(r), needAdmin: r.status === 77, r };
    }

    /* ---- the page ---- */

    const $ = id => document.getElementById(id);
    const el = (tag, cls, text) => {
        const e = document.createElement(tag);
        if (cls) e.className = cls;
        if (text !== undefined && text !== null) e.textContent = text;
        return e;
    };
    /* Text from the CLI (a guest's name, a spec, a reason), isolated from the page's direction. */
    const value = (text, cls) => {
        const e = el("bdi", cls, text);
        e.dataset.value = "";
        return e;
    };

    const last = { status: null, list: null, listSig: null, listAt: 0, data: null };
    let admin = null;

    /* One read at a time; calls during a read share the one queued after it (forceList merged),
     * so a timer tick never stacks CLI runs, and an edit's refresh is never lost. */
    let running = null;
    let queued = null;

    function refresh(forceList) {
        if (queued) {
            queued.forceList = queued.forceList || forceList;
            return queued.promise;
        }
        if (!running) {
            running = read(forceList).finally(() => { running = null; });
            return running;
        }
        const next = { forceList };
        next.promise = running.catch(() => undefined).then(() => {
            queued = null;
            running = read(next.forceList).finally(() => { running = null; });
            return running;
        });
        queued = next;
        return next.promise;
    }

    async function read(forceList) {
        const s = await readJSON("status", ["status", "--json", "--all"]);
        if (!s.json) {
            showReadError(s.error, s.needAdmin);
            return;
        }
        const sig = listSignature(s.json);
        const stale = Date.now() - last.listAt > LIST_MAX_AGE_MS;
        if (sig && (forceList || sig !== last.listSig || stale)) {
            const l = await readJSON("list", ["forward", "list", "--json"]);
            /* A list that cannot be read leaves the details it gave before; the status stands alone. */
            last.list = Array.isArray(l.json) ? l.json : last.list;
            last.listSig = sig;
            last.listAt = Date.now();
        } else if (!sig) {
            last.list = null;
            last.listSig = sig;
        }
        last.status = s.json;
        showData(model(s.json, last.list), stderrNotes(s.r.err, s.json));
        showReadError(null, false);
    }

    function showReadError(message, needAdmin) {
        const access = $("access");
        access.hidden = !needAdmin;
        access.textContent = needAdmin ? T.needAdmin : "";
        const box = $("read-error");
        box.hidden = !message;
        box.textContent = message ? cockpit.format(T.readFailed, message) : "";
        if (needAdmin || message) {
            $("summary").replaceChildren();
            if (needAdmin) {
                $("guests").replaceChildren();
                $("problems").hidden = true;
                $("warnings").hidden = true;
            }
        }
    }

    function badge(kind, text) {
        return el("span", "badge badge-" + kind, text);
    }

    function showSummary(m, said) {
        const s = $("summary");
        const parts = [];
        if (m.healthy !== null) parts.push(badge(m.healthy ? "ok" : "danger", m.healthy ? T.healthy : T.unhealthy));
        if (m.service) {
            let text = m.service.running ? T.serviceRunning : T.serviceStopped;
            if (m.service.running && m.service.repairs !== null) text += " · " + cockpit.format(T.repairs, m.service.repairs);
            parts.push(el("span", "summary-item", text));
        }
        if (m.backend || m.mode) parts.push(el("span", "summary-item", cockpit.format(T.backendMode, m.backend || "-", m.mode || "-")));
        parts.push(el("span", "summary-item summary-muted", cockpit.format(T.updated, new Date().toLocaleTimeString()) + " · " +
            (readAs.status === "superuser" ? T.viaSuperuser : T.viaUser)));
        for (const line of said || []) parts.push(value(line, "summary-item summary-muted"));
        s.replaceChildren(...parts);
        const notes = (id, lines, label) => {
            const ul = $(id);
            ul.setAttribute("aria-label", label);
            ul.hidden = lines.length === 0;
            ul.replaceChildren(...lines.map(line => {
                const li = el("li");
                li.append(value(line));
                return li;
            }));
        };
        notes("problems", m.problems, T.problemsLabel);
        notes("warnings", m.warnings, T.warningsLabel);
    }

    const STATE = {
        "installed": ["ok", () => T.sInstalled],
        "pending": ["warning", () => T.sPending],
        "left-out": ["danger", () => T.sLeftOut],
        "refused": ["danger", () => T.sRefused],
        "turned-away": ["danger", () => T.sTurnedAway],
        "off": ["muted", () => T.sOff],
        "not-installed": ["danger", () => T.sNotInstalled],
        "not-running": ["muted", () => T.sNotRunning],
    };

    function range(first, lastPort) {
        if (first === null || first === undefined) return "";
        return lastPort !== null && lastPort !== undefined && lastPort !== first ? first + "-" + lastPort : String(first);
    }

    function hostText(f) {
        if (f.hostPort === null) return f.spec;
        const port = range(f.hostPort, f.hostPortLast);
        return f.hostAddress ? (f.hostAddress.includes(":") ? "[" + f.hostAddress + "]" : f.hostAddress) + ":" + port : port;
    }

    function guestText(f) {
        if (f.guestPort === null) return "";
        const port = range(f.guestPort, f.guestPortLast);
        if (!f.guestAddress) return port;
        return (f.guestAddress.includes(":") ? "[" + f.guestAddress + "]" : f.guestAddress) + ":" + port;
    }

    const count = n => n === null ? "–" : n.toLocaleString(cockpit.language);

    /* Cells of one forward's row, in column order. */
    function cells(g, f) {
        const host = el("td"); host.dataset.label = T.cHost; host.append(value(hostText(f), "mono"));
        if (f.hostPort !== null && !f.hostAddress) host.append(el("span", "sub", T.allAddresses));
        const guest = el("td"); guest.dataset.label = T.cGuest; guest.append(value(guestText(f), "mono"));
        const proto = el("td"); proto.dataset.label = T.cProto; proto.append(value(f.proto || ""));
        const clients = el("td"); clients.dataset.label = T.cClients;
        if (f.sources === null) clients.textContent = "–";
        else if (f.sources.length === 0) clients.textContent = T.anyone;
        else clients.append(value(f.sources.join(", "), "mono"));
        const origin = el("td"); origin.dataset.label = T.cOrigin;
        if (f.origin) {
            origin.append(el("span", "origin origin-" + f.origin.kind, f.origin.text));
            if (f.origin.file) origin.append(" ", value(f.origin.file, "muted"));
        } else {
            origin.textContent = "–";
        }
        const state = el("td", "state"); state.dataset.label = T.cState;
        const [kind, label] = STATE[f.state] || ["muted", () => f.state || "–"];
        state.append(badge(kind, label()));
        state.dataset.state = f.state || "";
        for (const why of [f.reason, ...f.notes].filter(Boolean)) state.append(value(why, "reason"));
        const packets = el("td", "num", count(f.packets)); packets.dataset.label = T.cPackets;
        packets.dataset.count = f.packets === null ? "" : String(f.packets);
        const bytes = el("td", "num"); bytes.dataset.label = T.cBytes;
        bytes.append(f.bytes === null ? "–" : value(cockpit.format_bytes(f.bytes)));
        bytes.dataset.count = f.bytes === null ? "" : String(f.bytes);
        if (f.bytes !== null) bytes.title = count(f.bytes);
        const delivered = el("td", "num delivered", count(f.deliveredPackets)); delivered.dataset.label = T.cDelivered;
        delivered.dataset.count = f.deliveredPackets === null ? "" : String(f.deliveredPackets);
        if (f.deliveredPackets !== null && f.packets !== null) delivered.title = cockpit.format(T.rDelivered, count(f.deliveredPackets), count(f.packets));
        const actions = el("td", "row-actions");
        const button = el("button", "btn btn-secondary btn-small", T.remove);
        button.type = "button";
        button.setAttribute("aria-label", cockpit.format(T.removeLabel, f.spec, g.name));
        button.dataset.action = "remove";
        button.disabled = admin === false;
        button.addEventListener("click", () => askRemove(g.name, f.spec, button));
        actions.append(button);
        return [host, guest, proto, clients, origin, state, packets, bytes, delivered, actions];
    }

    function guestHeader(g) {
        const header = el("header", "guest-header");
        const h = el("h2", "guest-name");
        h.tabIndex = -1;
        h.append(value(g.name));
        header.append(h);
        if (g.running === true && g.pending !== null) {
            header.append(badge("warning", T.gPending));
            if (g.pending) header.append(value(g.pending, "reason"));
        } else if (g.running === true) {
            header.append(badge("ok", T.gRunning));
        } else if (g.running === false) {
            header.append(badge("muted", T.gNotRunning), el("span", "reason", T.gNotRunningNote));
        }
        return header;
    }

    function table(g) {
        const t = el("table", "forwards");
        const caption = el("caption", "sr-only", cockpit.format(T.caption, g.name));
        const head = el("thead");
        const tr = el("tr");
        for (const [label, cls] of [[T.cHost], [T.cGuest], [T.cProto], [T.cClients], [T.cOrigin], [T.cState],
            [T.cPackets, "num"], [T.cBytes, "num"], [T.cDelivered, "num delivered"], [T.cActions, "sr-only-text"]]) {
            const th = el("th", cls || null);
            th.scope = "col";
            if (cls === "sr-only-text") th.append(el("span", "sr-only", label));
            else th.textContent = label;
            tr.append(th);
        }
        head.append(tr);
        t.append(caption, head, el("tbody"));
        return t;
    }

    /* Updates the guests in place, keyed by name and spec, so that a refresh never takes the
     * keyboard focus away from the button or field it is on. */
    function showGuests(m) {
        const box = $("guests");
        const old = new Map([...box.children].map(c => [c.dataset.key, c]));
        m.guests.forEach((g, i) => {
            let card = old.get(g.name);
            old.delete(g.name);
            if (!card) {
                card = el("section", "card guest");
                card.dataset.key = g.name;
                card.append(el("header"), table(g));
            }
            card.dataset.running = String(g.running);
            const headerSig = JSON.stringify([g.running, g.pending, admin]);
            if (card.dataset.headerSig !== headerSig) {
                card.firstChild.replaceWith(guestHeader(g));
                card.dataset.headerSig = headerSig;
                card.setAttribute("aria-label", g.name);
            }
            const t = card.querySelector("table");
            t.classList.toggle("has-delivered", g.forwards.some(f => f.deliveredPackets !== null));
            const body = t.tBodies[0];
            const rows = new Map([...body.rows].map(r => [r.dataset.spec, r]));
            g.forwards.forEach((f, j) => {
                let row = rows.get(f.spec);
                rows.delete(f.spec);
                const sig = JSON.stringify([f, admin]);
                if (!row) {
                    row = el("tr");
                    row.dataset.spec = f.spec;
                }
                if (row.dataset.sig !== sig) {
                    const fresh = cells(g, f);
                    if (row.cells.length === fresh.length) {
                        /* Only the cells that changed; the row's button (its guest and spec are
                         * the row's key) stays, and with it the keyboard focus. */
                        fresh.slice(0, -1).forEach((c, k) => {
                            if (row.cells[k].outerHTML !== c.outerHTML) row.cells[k].replaceWith(c);
                        });
                        const b = row.cells[fresh.length - 1].querySelector("button");
                        if (b) b.disabled = admin === false;
                    } else {
                        row.replaceChildren(...fresh);
                    }
                    row.dataset.sig = sig;
                    row.dataset.state = f.state || "";
                }
                if (body.rows[j] !== row) body.insertBefore(row, body.rows[j] || null);
            });
            for (const r of rows.values()) r.remove();
            if (box.children[i] !== card) box.insertBefore(card, box.children[i] || null);
        });
        for (const c of old.values()) c.remove();
        $("empty").hidden = m.guests.length !== 0;
        const names = $("guest-names");
        const want = m.guests.map(g => g.name);
        if (JSON.stringify([...names.options].map(o => o.value)) !== JSON.stringify(want)) {
            names.replaceChildren(...want.map(n => {
                const o = el("option");
                o.value = n;
                return o;
            }));
        }
    }

    function showData(m, said) {
        last.data = m;
        showSummary(m, said);
        showGuests(m);
    }

    /* ---- adding ---- */

    const FIELDS = { guest: "f-guest", address: "f-address", hostPort: "f-host-port", guestPort: "f-guest-port", proto: "f-proto", clients: "f-clients" };

    function formValues() {
        return {
            guest: $("f-guest").value.trim(),
            address: $("f-address").value.trim(),
            hostPort: $("f-host-port").value.trim(),
            guestPort: $("f-guest-port").value.trim(),
            proto: $("f-proto").value,
            clients: $("f-clients").value.split(/[\s,]+/).filter(Boolean),
        };
    }

    function clearErrors() {
        for (const [field, id] of Object.entries(FIELDS)) {
            const error = $(id + "-error");
            error.hidden = true;
            error.textContent = "";
            $(id).removeAttribute("aria-invalid");
            document.querySelector(`.field[data-field="${field}"]`).classList.remove("has-error");
        }
        const result = $("add-result");
        result.textContent = "";
        result.className = "result";
    }

    function showFieldError(field, message) {
        const id = FIELDS[field] || FIELDS.hostPort;
        const error = $(id + "-error");
        error.replaceChildren(value(message));
        error.hidden = false;
        $(id).setAttribute("aria-invalid", "true");
        document.querySelector(`.field[data-field="${field}"]`).classList.add("has-error");
        $(id).focus();
        announce(message);
    }

    function announce(text) {
        $("announce").textContent = text;
    }

    async function onAdd(event) {
        event.preventDefault();
        if ($("add-fields").disabled) return;
        clearErrors();
        const v = formValues();
        const args = ["forward", "add"];
        for (const c of v.clients) args.push("--source", c);
        args.push("--", v.guest, composeSpec(v));
        const button = $("add-button");
        $("add-fields").disabled = true;
        button.textContent = T.adding;
        const r = await runCli(args, "require");
        $("add-fields").disabled = admin === false;
        button.textContent = T.add;
        const result = $("add-result");
        const said = r.out.trim();
        if (r.status === 0 || (r.status === 2 && said)) {
            /* Stored. Exit status 2 (a newer CLI): stored but not installed, and why. */
            result.className = r.status === 0 ? "result result-ok" : "result result-warning";
            result.replaceChildren(value(said));
            if (r.status === 2) result.append(el("br"), T.addedWarning + " ", value(cliMessage(r)));
            announce(said);
            for (const id of ["f-address", "f-host-port", "f-guest-port", "f-clients"]) $(id).value = "";
            $("f-proto").value = "tcp";
            $("f-host-port").focus();
            await refresh(true);
        } else {
            const message = cliMessage(r);
            showFieldError(r.problem ? "hostPort" : fieldFor(message, v), message);
        }
    }

    /* ---- removing ---- */

    let removing = null;

    function askRemove(guest, spec, button) {
        if (admin === false) return;
        removing = { guest, spec, button };
        $("remove-text").replaceChildren();
        const [before, middle, after] = T.removeText.split(/\$0|\$1/);
        const text = $("remove-text");
        /* Keep the translator's order of $0 and $1. */
        const firstIsSpec = T.removeText.indexOf("$0") < T.removeText.indexOf("$1");
        text.append(before, value(firstIsSpec ? spec : guest, "mono"), middle ?? "", value(firstIsSpec ? guest : spec, "mono"), after ?? "");
        const error = $("remove-error");
        error.hidden = true;
        error.textContent = "";
        $("remove-confirm").disabled = false;
        $("remove-confirm").textContent = T.remove;
        $("remove-dialog").showModal();
        $("remove-cancel").focus();
    }

    async function onRemove(event) {
        event.preventDefault();
        if (!removing) return;
        const { guest, spec } = removing;
        const confirm = $("remove-confirm");
        confirm.disabled = true;
        confirm.textContent = T.removing;
        const r = await runCli(["forward", "remove", "--", guest, spec], "require");
        confirm.textContent = T.remove;
        if (r.status === 0) {
            removing = null;
            $("remove-dialog").close();
            announce(cockpit.format(T.removed, spec, guest));
            await refresh(true);
            const card = [...$("guests").children].find(c => c.dataset.key === guest);
            (card?.querySelector(".guest-name") || $("page-title")).focus();
        } else {
            confirm.disabled = false;
            const error = $("remove-error");
            error.replaceChildren(value(cliMessage(r)));
            error.hidden = false;
        }
    }

    function closeRemove() {
        const button = removing?.button;
        removing = null;
        if ($("remove-dialog").open) $("remove-dialog").close();
        if (button && button.isConnected) button.focus();
    }

    /* ---- administrative access, theme, start ---- */

    function showAdmin() {
        $("add-fields").disabled = admin === false;
        const note = $("edit-access");
        note.hidden = admin !== false;
        note.textContent = admin === false ? T.needAdminEdit : "";
        for (const b of document.querySelectorAll("button[data-action=remove]")) b.disabled = admin === false;
    }

    /* Cockpit's shell keeps its light/dark choice in localStorage "shell:style". */
    function applyTheme() {
        let style = "auto";
        try {
            style = window.localStorage.getItem("shell:style") || "auto";
        } catch (e) { /* storage unavailable: follow the system */ }
        const dark = style === "dark" || (style === "auto" && window.matchMedia("(prefers-color-scheme: dark)").matches);
        document.documentElement.classList.toggle("theme-dark", dark);
    }

    function translateStatic() {
        for (const e of document.querySelectorAll("[data-t]")) e.textContent = T[e.dataset.t];
        document.title = T.title;
    }

    function start() {
        translateStatic();
        applyTheme();
        window.addEventListener("storage", e => { if (e.key === "shell:style") applyTheme(); });
        window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", applyTheme);
        $("summary").textContent = T.loading;

        $("add-form").addEventListener("submit", onAdd);
        $("remove-form").addEventListener("submit", onRemove);
        $("remove-cancel").addEventListener("click", closeRemove);
        $("remove-dialog").addEventListener("cancel", e => { e.preventDefault(); closeRemove(); });

        const permission = cockpit.permission({ admin: true });
        const update = () => {
            admin = permission.allowed;
            showAdmin();
        };
        permission.addEventListener("changed", () => {
            update();
            refresh(true);
        });
        update();

        /* On the service's publication, and at a modest rate while the page is shown. */
        try {
            cockpit.file(PUBLISHED, { superuser: "try" }).watch(() => refresh(false), { read: false });
        } catch (e) { /* no published status on this host: the timer alone */ }
        window.setInterval(() => { if (!document.hidden) refresh(false); }, REFRESH_MS);
        document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(false); });
        refresh(true);
    }

    /* The pure parts, for the browser test's checks of fields a newer CLI adds. */
    window.libvirtPortfwd = { model, show: showData, stderrNotes, parseSpec, composeSpec, fieldFor, stateFromText, strings: T };

    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else start();
}());
