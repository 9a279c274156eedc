// Package vrrptest holds fakes of the VRRP router's operating-system seams
// (vrrp.System): a simulated LAN that carries adverts between routers
// with loss, delay, duplication, reordering and partitions; hosts whose
// interfaces can go down, be deleted and made again; a map-backed address
// manager; and a recording announcer.
//
// Run routers on it inside a testing/synctest bubble: the LAN's delays
// and the routers' timers then run on the bubble's fake clock, and a
// simulated second takes microseconds.
package vrrptest
