/* cps: new TCP connections per second, for the data-plane benchmark.
 *   cps server PORT            accept and close, forever (killed by PID)
 *   cps client ADDR PORT SECS  connect and close as fast as possible; prints connections/s
 * The client closes with RST (SO_LINGER 0) so neither side piles up TIME_WAIT sockets. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "server") == 0) {
        int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
        if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 4096)) { perror("server"); return 1; }
        for (;;) {
            int c = accept(s, NULL, NULL);
            if (c >= 0) close(c);
        }
    }
    if (argc == 5 && strcmp(argv[1], "client") == 0) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
        if (inet_pton(AF_INET, argv[2], &a.sin_addr) != 1) { fprintf(stderr, "bad address\n"); return 2; }
        double secs = atof(argv[4]), start = now(), end = start + secs;
        long ok = 0, failed = 0;
        struct linger l = {1, 0};
        while (now() < end) {
            int c = socket(AF_INET, SOCK_STREAM, 0);
            setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof l);
            if (connect(c, (struct sockaddr *)&a, sizeof a) == 0) ok++; else failed++;
            close(c);
        }
        double elapsed = now() - start;
        printf("%.0f %ld %ld\n", ok / elapsed, ok, failed);
        return ok > 0 ? 0 : 1;
    }
    fprintf(stderr, "usage: cps server PORT | cps client ADDR PORT SECS\n");
    return 2;
}
