package conn_test

import _ "github.com/gomsgr/gomsgr/driver/uring" // registers "uring", which the tests select by name
