package center

import (
	_ "github.com/gomsgr/gomsgr/driver/epoll" // registers "epoll"
)
