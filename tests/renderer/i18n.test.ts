import { describe, expect, it } from 'vitest'
import { catalogs, resolveLanguage, translate } from '../../src/renderer/src/i18n'
import { en } from '../../src/renderer/src/i18n/en'

/** Strings that are the same in both languages on purpose (names, units, protocol terms). */
const SAME_IN_BOTH = new Set([
  'app.title',
  'lang.ko',
  'lang.en',
  'level.dbfs',
  'device.ice',
  'selftest.step.ice',
  'directory.containerId'
])

const placeholders = (s: string): string[] => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!).sort()

describe('message catalogs', () => {
  const keys = Object.keys(en)

  it('Korean and English have exactly the same keys', () => {
    expect(Object.keys(catalogs.ko).sort()).toEqual([...keys].sort())
  })

  for (const lang of ['ko', 'en'] as const) {
    it(`${lang}: no empty message`, () => {
      const empty = keys.filter((k) => !catalogs[lang][k as keyof typeof en]?.trim())
      expect(empty).toEqual([])
    })
  }

  it('no message is left untranslated (Korean differs from English)', () => {
    const same = keys.filter(
      (k) => !SAME_IN_BOTH.has(k) && catalogs.ko[k as keyof typeof en] === en[k as keyof typeof en]
    )
    expect(same).toEqual([])
  })

  it('every Korean message that is not a name contains Korean', () => {
    const noHangul = keys.filter(
      (k) => !SAME_IN_BOTH.has(k) && !/[\uac00-\ud7a3]/.test(catalogs.ko[k as keyof typeof en])
    )
    expect(noHangul).toEqual([])
  })

  it('both languages use the same placeholders', () => {
    const mismatched = keys.filter(
      (k) =>
        placeholders(catalogs.ko[k as keyof typeof en]).join() !==
        placeholders(en[k as keyof typeof en]).join()
    )
    expect(mismatched).toEqual([])
  })
})

describe('messages that name one row', () => {
  const keys = [
    ['console.confirmDestroy', 'speaker'],
    ['directory.editLabel', 'speaker'],
    ['directory.removeLabel', 'speaker'],
    ['zones.talkLabel', 'name'],
    ['zones.holdLabel', 'name'],
    ['zones.renameButtonLabel', 'name'],
    ['zones.removeLabel', 'name']
  ] as const
  for (const lang of ['ko', 'en'] as const)
    for (const [key, param] of keys)
      it(`${lang}: ${key} names its ${param}`, () => {
        expect(translate(lang, key, { [param]: 'K-HALL-7' })).toContain('K-HALL-7')
      })
})

describe('language choice', () => {
  it('automatic is Korean on a Korean system and English elsewhere', () => {
    expect(resolveLanguage('auto', ['ko-KR', 'en-US'])).toBe('ko')
    expect(resolveLanguage('auto', ['en-US', 'ko'])).toBe('ko')
    expect(resolveLanguage('auto', ['en-GB'])).toBe('en')
    expect(resolveLanguage('en', ['ko-KR'])).toBe('en')
  })

  it('fills placeholders', () => {
    expect(translate('en', 'device.nextKeepalive', { seconds: 12 })).toBe('next in 12 s')
    expect(translate('ko', 'device.nextKeepalive', { seconds: 12 })).toBe('12초 후 다음 신호')
  })
})
