// The part of the WebAssembly JavaScript API that the chunking kernel uses (Node has it; its types live in the DOM library).
declare namespace WebAssembly {
  class Module {
    constructor (bytes: Uint8Array)
  }
  class Memory {
    constructor (descriptor: { initial: number, maximum: number, shared: boolean })
    readonly buffer: SharedArrayBuffer
  }
  class Instance {
    constructor (module: Module, imports: Record<string, Record<string, Memory>>)
    readonly exports: Record<string, unknown>
  }
}
