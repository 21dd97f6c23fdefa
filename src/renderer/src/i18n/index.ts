/**
 * Korean and English. The language follows the setting; 'auto' is Korean when the system
 * language is Korean and English otherwise.
 */
import { computed, ref } from 'vue'
import type { Language, LanguageSetting } from '@shared/contract'
import { en, type MessageKey } from './en'
import { ko } from './ko'

export type { MessageKey }
export const catalogs: Record<Language, Record<MessageKey, string>> = { ko, en }

export function systemLanguage(
  locales: readonly string[] = navigator.languages ?? [navigator.language]
): Language {
  return locales.some((l) => l.toLowerCase().startsWith('ko')) ? 'ko' : 'en'
}

export function resolveLanguage(setting: LanguageSetting, locales?: readonly string[]): Language {
  return setting === 'auto' ? systemLanguage(locales) : setting
}

const current = ref<Language>('ko')
export const language = computed(() => current.value)

export function setLanguage(lang: Language): void {
  current.value = lang
  document.documentElement.lang = lang
}

export function translate(
  lang: Language,
  key: MessageKey,
  params: Record<string, string | number> = {}
): string {
  const text = catalogs[lang][key] ?? catalogs.en[key] ?? key
  return text.replace(/\{(\w+)\}/g, (m, name: string) => (name in params ? String(params[name]) : m))
}

/** Reactive translation for templates: re-renders when the language changes. */
export function t(key: MessageKey, params?: Record<string, string | number>): string {
  return translate(current.value, key, params)
}
