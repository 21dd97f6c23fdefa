/**
 * What the desktop shell says about the app's calls (tray tooltip and menu, notifications), in the
 * language of the settings. Pure functions of their inputs; the electron wiring lives elsewhere.
 */
import type { Language, LanguageSetting, WindowStatus } from '../../shared/contract'

/** 'auto' follows the system, like the renderer: Korean when the locale is Korean, English otherwise. */
export function resolveLanguage(setting: LanguageSetting | undefined, locale: string): Language {
  if (setting === 'ko' || setting === 'en') return setting
  return locale.toLowerCase().startsWith('ko') ? 'ko' : 'en'
}

/** All windows together: the tray speaks for the app, not for one window. */
export function summarize(statuses: readonly WindowStatus[]): WindowStatus {
  const sum: WindowStatus = { liveCalls: 0, joinedWebClients: 0, transmitting: false }
  for (const s of statuses) {
    sum.liveCalls += count(s.liveCalls)
    sum.joinedWebClients += count(s.joinedWebClients)
    sum.transmitting ||= s.transmitting === true
  }
  return sum
}

function count(n: number): number {
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0
}

export type CallState = 'idle' | 'joined' | 'live' | 'talking'

/** The most telling state wins: talking, then live calls, then a waiting web client. */
export function callState(s: WindowStatus): CallState {
  if (s.transmitting) return 'talking'
  if (s.liveCalls > 0) return 'live'
  if (s.joinedWebClients > 0) return 'joined'
  return 'idle'
}

export const SHELL_TEXT = {
  en: {
    idle: 'Idle',
    joined: (n: number) => (n === 1 ? 'A web client joined' : `${n} web clients joined`),
    live: (n: number) => (n === 1 ? '1 live call' : `${n} live calls`),
    talking: (n: number) =>
      n === 0 ? 'Talking' : n === 1 ? 'Talking — 1 live call' : `Talking — ${n} live calls`,
    show: 'Show Genie Bridge',
    startAtLogin: 'Start at login',
    quit: 'Quit',
    joinedTitle: 'A web client joined',
    joinedBody: (n: number) => (n === 1 ? 'A speaker has a web client.' : `${n} web clients have joined.`)
  },
  ko: {
    idle: '대기 중',
    joined: (n: number) => (n === 1 ? '웹 클라이언트 접속' : `웹 클라이언트 ${n}개 접속`),
    live: (n: number) => `통화 ${n}건`,
    talking: (n: number) => (n === 0 ? '말하는 중' : `말하는 중 — 통화 ${n}건`),
    show: 'Genie Bridge 열기',
    startAtLogin: '로그인할 때 시작',
    quit: '종료',
    joinedTitle: '웹 클라이언트가 접속했습니다',
    joinedBody: (n: number) =>
      n === 1 ? '스피커에 웹 클라이언트가 접속했습니다.' : `웹 클라이언트 ${n}개가 접속해 있습니다.`
  }
} as const

export function statusText(s: WindowStatus, language: Language): string {
  const text = SHELL_TEXT[language]
  switch (callState(s)) {
    case 'talking':
      return text.talking(s.liveCalls)
    case 'live':
      return text.live(s.liveCalls)
    case 'joined':
      return text.joined(s.joinedWebClients)
    default:
      return text.idle
  }
}

export function trayTooltip(s: WindowStatus, language: Language): string {
  return `Genie Bridge — ${statusText(s, language)}`
}
