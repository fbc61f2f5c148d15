package center

// epoll, the default driver, is linked into every program that uses a
// center on Linux. io_uring is linked only by a program that imports
// github.com/gomsgr/gomsgr/driver/uring (see the package comment).
import _ "github.com/gomsgr/gomsgr/driver/epoll" // registers "epoll"
