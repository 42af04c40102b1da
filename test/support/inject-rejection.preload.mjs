// Loaded into a kleidi process with NODE_OPTIONS=--import=<this file>: on SIGUSR2 it
// leaves a promise rejection that nothing handles, the fault kleidi cannot foresee.
process.on('SIGUSR2', () => {
  void Promise.reject(new Error('rejection injected by the test'));
});
