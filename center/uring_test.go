package center

// The tests run every registered driver (modes), io_uring included.
import _ "github.com/gomsgr/gomsgr/driver/uring" // registers "uring"
