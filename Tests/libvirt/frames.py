#!/usr/bin/python3
# frames.py - a guest's frames on the bridge, from inside its namespace, with any sender:
#
#   frames.py IFACE announce ADDR MAC [GATEWAY]   # ARP request (IPv4) or neighbour solicitation
#                                                 # (IPv6) for GATEWAY from ADDR at MAC: the host
#                                                 # then has ADDR at MAC in its neighbour table
#   frames.py IFACE dhcp-request MAC CLIENTID ADDR SERVER [unicast]
#                                                 # a DHCPREQUEST (INIT-REBOOT) for ADDR with any
#                                                 # chaddr and client identifier; with the broadcast
#                                                 # flag, or without it (dnsmasq then answers by
#                                                 # unicast, writing ADDR at MAC into its host's
#                                                 # ARP table)
#
# What a guest does when it talks (announce), and what a guest owner can forge (any MAC in
# either), as lab.sh and the tests need it. Raw AF_PACKET frames; the namespace's own MAC is
# only the Ethernet source of a DHCPREQUEST (chaddr is in the payload).
import socket, struct, sys, ipaddress

def mac_bytes(m): return bytes(int(x, 16) for x in m.split(':'))

def csum(b):
    b += b'\0' * (len(b) & 1)
    c = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    c = (c >> 16) + (c & 0xffff); c += c >> 16
    return ~c & 0xffff

def announce(iface, addr, mac, gateway):
    a, src = ipaddress.ip_address(addr), mac_bytes(mac)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    if a.version == 4:
        gw = ipaddress.ip_address(gateway or '192.168.122.1')
        arp = struct.pack('!HHBBH', 1, 0x0800, 6, 4, 1) + src + a.packed + b'\0' * 6 + gw.packed
        s.send(b'\xff' * 6 + src + b'\x08\x06' + arp)
        return
    gw = ipaddress.ip_address(gateway or 'fd00:122::1')
    dst = ipaddress.ip_address('ff02::1:ff00:0').packed[:13] + gw.packed[13:]
    body = struct.pack('!BBHI', 135, 0, 0, 0) + gw.packed + struct.pack('!BB', 1, 1) + src
    pseudo = a.packed + dst + struct.pack('!I', len(body)) + b'\0\0\0\x3a'
    body = body[:2] + struct.pack('!H', csum(pseudo + body)) + body[4:]
    ip6 = struct.pack('!IHBB', 0x60000000, len(body), 58, 255) + a.packed + dst
    s.send(b'\x33\x33' + dst[12:] + src + b'\x86\xdd' + ip6 + body)

def dhcp_request(iface, chaddr, client, addr, server, how='broadcast'):
    own = open('/sys/class/net/%s/address' % iface).read().strip()
    cid = bytes(int(x, 16) for x in client.split(':'))
    opts = (bytes([53, 1, 3]) + bytes([61, len(cid)]) + cid + bytes([50, 4]) + ipaddress.ip_address(addr).packed
            + bytes([54, 4]) + ipaddress.ip_address(server).packed + b'\xff')
    bootp = (struct.pack('!BBBBIHH', 1, 1, 6, 0, 0x1234abcd, 0, 0 if how == 'unicast' else 0x8000) + b'\0' * 16 + mac_bytes(chaddr) + b'\0' * 10
             + b'\0' * 192 + b'\x63\x82\x53\x63' + opts)
    udp = struct.pack('!HHHH', 68, 67, 8 + len(bootp), 0) + bootp
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, b'\0' * 4, b'\xff' * 4)
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    s.send(b'\xff' * 6 + mac_bytes(own) + b'\x08\x00' + ip + udp)

if __name__ == '__main__':
    iface, what = sys.argv[1], sys.argv[2]
    if what == 'announce':
        announce(iface, sys.argv[3], sys.argv[4], sys.argv[5] if len(sys.argv) > 5 else None)
    elif what == 'dhcp-request':
        dhcp_request(iface, *sys.argv[3:8])
    else:
        sys.exit('usage: frames.py IFACE announce ADDR MAC [GATEWAY] | dhcp-request MAC CLIENTID ADDR SERVER [unicast]')
