// Draws the app's icons (a speaker sending sound waves, white on a blue rounded square) and writes
// them as PNG files into resources/. Plain Node (zlib for the compression), so that the icons can
// be made again anywhere without an image tool:   node scripts/make-icons.mjs
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { deflateSync } from 'node:zlib'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** What is written: the app icon (installers, window) and the tray icon at 1x and 2x. */
export const ICONS = [
  { file: 'icon.png', size: 512, padding: 0.08 },
  // Tray areas are small: the glyph fills the whole square there.
  { file: 'tray.png', size: 32, padding: 0 },
  { file: 'tray@2x.png', size: 64, padding: 0 }
]

const TOP = [59, 130, 246] // the square's colour at the top …
const BOTTOM = [30, 64, 175] // … and at the bottom
const GLYPH = [255, 255, 255]

// The glyph in a unit square: the speaker (box and cone) as one polygon, two arcs as the waves.
const SPEAKER = [
  [0.2, 0.4],
  [0.33, 0.4],
  [0.5, 0.25],
  [0.5, 0.75],
  [0.33, 0.6],
  [0.2, 0.6]
]
const WAVE_CENTRE = [0.5, 0.5]
const WAVES = [0.15, 0.27]
const WAVE_WIDTH = 0.065
const WAVE_HALF_ANGLE = (50 * Math.PI) / 180

function inPolygon(x, y, points) {
  let inside = false
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
    const [xi, yi] = points[i]
    const [xj, yj] = points[j]
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside
  }
  return inside
}

function inWave(x, y) {
  const dx = x - WAVE_CENTRE[0]
  const dy = y - WAVE_CENTRE[1]
  const r = Math.hypot(dx, dy)
  const angle = Math.atan2(dy, dx)
  for (const radius of WAVES) {
    if (Math.abs(angle) <= WAVE_HALF_ANGLE && Math.abs(r - radius) <= WAVE_WIDTH / 2) return true
    // Round ends.
    for (const sign of [-1, 1]) {
      const ex = WAVE_CENTRE[0] + radius * Math.cos(sign * WAVE_HALF_ANGLE)
      const ey = WAVE_CENTRE[1] + radius * Math.sin(sign * WAVE_HALF_ANGLE)
      if (Math.hypot(x - ex, y - ey) <= WAVE_WIDTH / 2) return true
    }
  }
  return false
}

function inRoundedSquare(x, y, padding) {
  const half = 0.5 - padding
  const radius = 0.22 * (1 - 2 * padding)
  const qx = Math.abs(x - 0.5) - (half - radius)
  const qy = Math.abs(y - 0.5) - (half - radius)
  const outside = Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0)
  return outside <= radius
}

/** RGBA pixels of one icon, anti-aliased by sampling each pixel on a grid. */
export function renderIcon(size, padding) {
  const samples = size >= 256 ? 3 : 5
  const rgba = Buffer.alloc(size * size * 4)
  const inner = 1 - 2 * padding
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let coverage = 0
      const colour = [0, 0, 0]
      for (let sy = 0; sy < samples; sy++) {
        for (let sx = 0; sx < samples; sx++) {
          const x = (px + (sx + 0.5) / samples) / size
          const y = (py + (sy + 0.5) / samples) / size
          if (!inRoundedSquare(x, y, padding)) continue
          coverage++
          const gx = (x - padding) / inner
          const gy = (y - padding) / inner
          const c =
            inPolygon(gx, gy, SPEAKER) || inWave(gx, gy)
              ? GLYPH
              : TOP.map((t, i) => t + (BOTTOM[i] - t) * Math.min(1, Math.max(0, gy)))
          for (let i = 0; i < 3; i++) colour[i] += c[i]
        }
      }
      const at = (py * size + px) * 4
      if (coverage === 0) continue
      for (let i = 0; i < 3; i++) rgba[at + i] = Math.round(colour[i] / coverage)
      rgba[at + 3] = Math.round((255 * coverage) / (samples * samples))
    }
  }
  return rgba
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

function crc32(buf) {
  let c = 0xffffffff
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length)
  out.writeUInt32BE(data.length, 0)
  out.write(type, 4, 'ascii')
  data.copy(out, 8)
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length)
  return out
}

/** A PNG of 8-bit RGBA pixels, no filtering. */
export function encodePng(width, height, rgba) {
  const stride = width * 4
  const raw = Buffer.alloc((stride + 1) * height)
  for (let y = 0; y < height; y++) rgba.copy(raw, y * (stride + 1) + 1, y * stride, (y + 1) * stride)
  const header = Buffer.alloc(13)
  header.writeUInt32BE(width, 0)
  header.writeUInt32BE(height, 4)
  header[8] = 8 // bits per channel
  header[9] = 6 // RGBA
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0))
  ])
}

export function writeIcons(dir = join(ROOT, 'resources')) {
  mkdirSync(dir, { recursive: true })
  return ICONS.map(({ file, size, padding }) => {
    const path = join(dir, file)
    writeFileSync(path, encodePng(size, size, renderIcon(size, padding)))
    return path
  })
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  for (const path of writeIcons()) console.log(`wrote ${path}`)
}
