import { describe, expect, it } from 'vitest'
import { parseCsv } from '../../src/renderer/src/services/csv'
import { directoryFromCsv, directoryToCsv } from '../../src/renderer/src/services/directory-csv'
import type { SpeakerEntry, Zone } from '../../src/shared/directory'

function ids(): () => string {
  let n = 0
  return () => `id${++n}`
}

describe('CSV import', () => {
  it('reads quoted cells, doubled quotes, CRLF and LF, a BOM, and skips blank lines', () => {
    expect(parseCsv('\ufeffa,b\r\n"x, y","say ""hi"""\n\n"two\nlines",\r\n')).toEqual([
      ['a', 'b'],
      ['x, y', 'say "hi"'],
      ['two\nlines', '']
    ])
  })
  it("takes off the ' that export puts before a formula character", () => {
    expect(parseCsv('\'=1+1,"\'-2"\n')).toEqual([['=1+1', "'-2"]])
  })
})

describe('directory CSV', () => {
  const zones: Zone[] = [{ id: 'z1', name: 'Lobby' }]
  const directory: SpeakerEntry[] = [
    { id: 's1', name: 'Front door', note: '1F, east', containerId: 'K1', sessionid: '', zones: ['z1'] }
  ]

  it('exports what it imports, unchanged', () => {
    const csv = directoryToCsv(directory, zones)
    expect(csv).toBe('name,note,containerId,sessionId,zones\r\nFront door,"1F, east",K1,,Lobby\r\n')
    const back = directoryFromCsv(csv, [], [], ids())
    expect(back.zones).toEqual([{ id: 'id1', name: 'Lobby' }])
    expect(back.directory).toEqual([{ ...directory[0], id: 'id2', zones: ['id1'] }])
  })

  it('updates a speaker by its ContainerId, adds new ones, makes missing zones, and names the rows it skips', () => {
    const csv = [
      'zones,containerId,name', // any column order
      'Lobby;Hall,K1,Front door (new name)',
      ',K2,Back door',
      'Hall,,no way to reach it'
    ].join('\n')
    const r = directoryFromCsv(csv, directory, zones, ids())
    expect(r).toMatchObject({ added: 1, updated: 1, skipped: [4] })
    expect(r.zones).toEqual([
      { id: 'z1', name: 'Lobby' },
      { id: 'id1', name: 'Hall' }
    ])
    expect(r.directory).toEqual([
      {
        id: 's1',
        name: 'Front door (new name)',
        note: '',
        containerId: 'K1',
        sessionid: '',
        zones: ['z1', 'id1']
      },
      { id: 'id2', name: 'Back door', note: '', containerId: 'K2', sessionid: '', zones: [] }
    ])
    // The saved list itself is untouched until the result is saved.
    expect(directory[0]!.name).toBe('Front door')
  })

  it('reads a file without a header in the export’s column order', () => {
    const r = directoryFromCsv('Desk,,,S-9,\n', [], [], ids())
    expect(r.directory).toEqual([
      { id: 'id1', name: 'Desk', note: '', containerId: '', sessionid: 'S-9', zones: [] }
    ])
  })
})
