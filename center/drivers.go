package center

import (
	_ "github.com/gomsgr/gomsgr/driver/epoll" // registers "epoll"
	_ "github.com/gomsgr/gomsgr/driver/uring" // registers "uring"
)
