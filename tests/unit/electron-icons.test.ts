// The icons in resources/ are what scripts/make-icons.mjs draws: valid PNGs of the sizes the
// installers and the tray expect, made again by the script to the same pixels.
import { readFileSync } from 'node:fs'
import { inflateSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
// @ts-expect-error: a plain .mjs script without type declarations
import * as script from '../../scripts/make-icons.mjs'

const { ICONS, renderIcon, encodePng } = script as {
  ICONS: { file: string; size: number; padding: number }[]
  renderIcon: (size: number, padding: number) => Buffer
  encodePng: (width: number, height: number, rgba: Buffer) => Buffer
}

/** Width, height and RGBA pixels of a PNG as the script writes it (8-bit RGBA, filter 0 on every row). */
function decode(png: Buffer): { width: number; height: number; rgba: Buffer } {
  expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
  let at = 8
  let width = 0
  let height = 0
  const idat: Buffer[] = []
  while (at < png.length) {
    const length = png.readUInt32BE(at)
    const type = png.toString('ascii', at + 4, at + 8)
    const data = png.subarray(at + 8, at + 8 + length)
    if (type === 'IHDR') {
      width = data.readUInt32BE(0)
      height = data.readUInt32BE(4)
      expect([data[8], data[9]]).toEqual([8, 6])
    } else if (type === 'IDAT') idat.push(data)
    at += 12 + length
  }
  const raw = inflateSync(Buffer.concat(idat))
  const stride = width * 4
  const rgba = Buffer.alloc(stride * height)
  for (let y = 0; y < height; y++) {
    expect(raw[y * (stride + 1)]).toBe(0)
    raw.copy(rgba, y * stride, y * (stride + 1) + 1, (y + 1) * (stride + 1))
  }
  return { width, height, rgba }
}

describe('resources/ icons', () => {
  it('has the app icon at 512 px and the tray icon at 32 px and 64 px (@2x)', () => {
    expect(ICONS.map((i) => [i.file, i.size])).toEqual([
      ['icon.png', 512],
      ['tray.png', 32],
      ['tray@2x.png', 64]
    ])
  })

  for (const { file, size, padding } of ICONS) {
    it(`${file} holds exactly what the script draws`, () => {
      const png = decode(readFileSync(`resources/${file}`))
      expect([png.width, png.height]).toEqual([size, size])
      expect(png.rgba.equals(renderIcon(size, padding))).toBe(true)
    })
  }

  it('draws a white glyph on an opaque square with transparent corners', () => {
    const size = 64
    const rgba = renderIcon(size, 0.08)
    const pixel = (x: number, y: number) => [...rgba.subarray((y * size + x) * 4, (y * size + x) * 4 + 4)]
    expect(pixel(0, 0)[3]).toBe(0) // outside the rounded corner
    expect(pixel(size / 2, 8)[3]).toBe(255) // the square, above the glyph
    expect(pixel(size / 2, 8)).not.toEqual([255, 255, 255, 255])
    expect(pixel(Math.round(size * 0.3), size / 2)).toEqual([255, 255, 255, 255]) // the speaker
  })

  it('writes PNGs that decode back to their pixels', () => {
    const rgba = renderIcon(16, 0)
    expect(decode(encodePng(16, 16, rgba)).rgba.equals(rgba)).toBe(true)
  })
})
