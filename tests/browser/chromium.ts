/** The browser the web tests drive, and how they start it: one copy for every browser test. */

/** Where the CI (and `apt-get install -y chromium`) puts the browser. */
export const CHROMIUM = "/usr/bin/chromium";

/** Chromium flags: WebGPU on SwiftShader (no GPU needed), and nothing that reaches the network. */
export const CHROMIUM_ARGS: readonly string[] = [
  "--headless=new",
  "--no-sandbox",
  "--enable-unsafe-webgpu",
  "--enable-features=Vulkan,WebGPUService",
  "--use-vulkan=swiftshader",
  "--use-webgpu-adapter=swiftshader",
  "--enable-unsafe-swiftshader",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
