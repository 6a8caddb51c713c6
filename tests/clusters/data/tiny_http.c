/* Stand-in "internet" target for the Docker self-test when the workloads image is not built:
 * answers every TCP connection on port 80 with one HTTP/1.0 200 response. Built static so the
 * image is this one file (docker import of a one-file rootfs). */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
    static const char reply[] =
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 15\r\n\r\n"
        "external target";
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(80);
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 16) != 0) return 1;
    for (;;) {
        char buf[2048];
        int c = accept(fd, 0, 0);
        if (c < 0) continue;
        (void)read(c, buf, sizeof buf);
        (void)write(c, reply, sizeof reply - 1);
        close(c);
    }
}
