// Loaded into the browser host a test starts (`--import`): the host ends when the test process
// that started it does, however that one ends (a failed run, a timeout, a kill), because the
// pipe on its stdin then closes.
process.stdin.on('end', () => process.exit(0))
process.stdin.on('error', () => process.exit(0))
process.stdin.resume()
