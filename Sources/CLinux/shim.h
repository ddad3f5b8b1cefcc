/* Linux interfaces the watch service uses that Swift's Glibc module does not export:
   signalfd, inotify, and netfilter's netlink notifications, with their constants taken from
   the kernel's own headers (linux-libc-dev). Nothing is linked: these are system calls. */
#include <sys/signalfd.h>
#include <sys/inotify.h>
#include <linux/netlink.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
/* The host's neighbour tables (ARP and NDP), dumped and followed over rtnetlink. */
#include <linux/rtnetlink.h>
#include <linux/neighbour.h>
/* A guest asked, on its bridge, whether it holds an address (ARP, NDP): a packet socket. */
#include <netpacket/packet.h>
/* malloc_trim: glibc's, which Swift's Glibc module leaves out (the watch service gives its
   heap's free pages back after a burst of work). */
#include <malloc.h>
/* The host's listening sockets, asked of the kernel (NETLINK_SOCK_DIAG): only the listening and
   bound hashes are walked, where /proc/net/tcp walks every established connection too. */
#include <linux/sock_diag.h>
#include <linux/inet_diag.h>
/* syslog(3) with the line as an argument, never as a format: Swift cannot call a variadic C
   function, and vsyslog through withVaList costs a dynamic cast per argument, each a scan of
   the static runtime's conformance records the first time (half a million instructions). */
#include <syslog.h>
static inline void pf_syslog(int priority, const char *line) { syslog(priority, "%s", line); }
