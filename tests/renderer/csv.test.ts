import { describe, expect, it } from 'vitest'
import { toCsv } from '../../src/renderer/src/services/csv'

describe('CSV export', () => {
  it('quotes what needs quoting and doubles quotes', () => {
    expect(
      toCsv(
        ['a', 'b'],
        [
          ['plain', 'with, comma'],
          ['say "hi"', 'two\nlines']
        ]
      )
    ).toBe('a,b\r\nplain,"with, comma"\r\n"say ""hi""","two\nlines"\r\n')
  })
  it('neutralises cells a spreadsheet would run as formulas', () => {
    expect(toCsv(['x'], [['=1+1'], ['-2'], ['@SUM(A1)']])).toBe("x\r\n'=1+1\r\n'-2\r\n'@SUM(A1)\r\n")
  })
  it('also neutralises a formula behind a leading tab or carriage return', () => {
    expect(toCsv(['x'], [['\t=cmd|calc'], ['\r=1+1'], ['\tplain']])).toBe(
      "x\r\n'\t=cmd|calc\r\n\"'\r=1+1\"\r\n'\tplain\r\n"
    )
  })
  it('writes numbers as they are', () => {
    expect(toCsv(['n'], [[42]])).toBe('n\r\n42\r\n')
  })
})
