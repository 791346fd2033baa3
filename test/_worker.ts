// Web-style Workers in all three runtimes. Deno and Bun have the Web Worker
// global; Node has node:worker_threads instead, whose Worker is started here
// with a small bootstrap that gives the worker `self`, `onmessage` and
// `postMessage` as a Web Worker has them. Nothing here runs at import time.

/** The part of a Web Worker the tests use. */
export interface WorkerLike {
  /** Called with `{ data }` for each message from the worker. */
  onmessage: ((event: { data?: unknown }) => void) | null;
  /** Called when the worker throws. */
  onerror: ((event: { message?: string }) => void) | null;
  /** Sends `message` to the worker. */
  postMessage(message: unknown): void;
  /** Stops the worker at once. */
  terminate(): void;
}

type _WebWorker = new (url: string, options: { type: "module" }) => WorkerLike;

interface _NodeWorker {
  on(event: "message", listener: (data: unknown) => void): void;
  on(event: "error", listener: (error: Error) => void): void;
  postMessage(message: unknown): void;
  terminate(): Promise<number>;
}

type _NodeWorkerClass = new (
  code: string,
  options: { eval: true; workerData: string },
) => _NodeWorker;

const host = globalThis as unknown as {
  Worker?: _WebWorker;
  process?: { getBuiltinModule?(id: string): unknown };
};

// CommonJS, as Node evaluates `eval: true` code: the Web Worker globals, then
// the module (a URL in workerData) or the source (the rest of the script).
const BOOTSTRAP = `
const { parentPort, workerData } = require("node:worker_threads");
globalThis.self = globalThis;
globalThis.postMessage = (message) => parentPort.postMessage(message);
parentPort.on("message", (data) => globalThis.onmessage?.({ data }));
`;

class _NodeWebWorker implements WorkerLike {
  onmessage: ((event: { data?: unknown }) => void) | null = null;
  onerror: ((event: { message?: string }) => void) | null = null;
  #worker: _NodeWorker;

  constructor(code: string, workerData: string) {
    const threads = host.process!.getBuiltinModule!("node:worker_threads") as {
      Worker: _NodeWorkerClass;
    };
    this.#worker = new threads.Worker(BOOTSTRAP + code, { eval: true, workerData });
    this.#worker.on("message", (data) => this.onmessage?.({ data }));
    this.#worker.on("error", (error) => this.onerror?.({ message: error.message }));
  }

  postMessage(message: unknown): void {
    this.#worker.postMessage(message);
  }

  terminate(): void {
    void this.#worker.terminate();
  }
}

/**
 * A module Worker running `url` (a file: URL of a .ts or .js module).
 *
 * @param url The worker module's URL.
 * @returns The worker.
 */
export function workerFromModule(url: string): WorkerLike {
  if (host.Worker !== undefined) return new host.Worker(url, { type: "module" });
  return new _NodeWebWorker(
    `import(workerData).catch((error) => { throw error; });`,
    url,
  );
}

/**
 * A Worker running `source`, plain JavaScript that uses only `self`,
 * `onmessage` and `postMessage`.
 *
 * @param source The script.
 * @returns The worker; `terminate()` also frees its blob URL.
 */
export function workerFromSource(source: string): WorkerLike {
  if (host.Worker === undefined) return new _NodeWebWorker(source, "");
  const blob = new Blob([source], { type: "application/javascript" });
  const url = URL.createObjectURL(blob);
  const worker = new host.Worker(url, { type: "module" });
  const terminate = worker.terminate.bind(worker);
  worker.terminate = () => {
    terminate();
    URL.revokeObjectURL(url);
  };
  return worker;
}
