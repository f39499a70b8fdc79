// Preloaded into the reference servers' HTTP modes (`node --require`):
// they call listen(PORT) on every interface; this pins them to 127.0.0.1
// and prints the port the kernel picked for PORT=0, so tests never race
// for a port and never listen beyond loopback.
const net = require("net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const port = args[0];
  if (typeof port === "number" || (typeof port === "string" && /^\d+$/.test(port))) {
    const cb = args.find((a) => typeof a === "function");
    this.once("listening", () => {
      process.stderr.write(`LOOPBACK_PORT=${this.address().port}\n`);
    });
    return listen.call(this, { port: Number(port), host: "127.0.0.1" }, cb);
  }
  return listen.apply(this, args);
};
