// What every test target shares (seeds, `expectError`, the readers' hostile shapes), for
// every file of this one.
@_exported import TestSupport
