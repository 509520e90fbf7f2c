// Package zeroconfsrv makes the speaker discoverable and lets a phone hand it a
// login: the mDNS advertisement of _spotify-connect._tcp, the ZeroConf HTTP API
// (getInfo, addUser, resetUsers), decryption of the addUser blob and the
// credentials.json store in librespot's format.
package zeroconfsrv
