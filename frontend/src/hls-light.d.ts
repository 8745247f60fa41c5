// hls.js's light build (no subtitles, alternative audio, DRM or CMCD: a live camera needs none of them) ships
// no types of its own; its API is the full build's.
declare module "hls.js/light" {
  export * from "hls.js";
  export { default } from "hls.js";
}
