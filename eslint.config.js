import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import vue from 'eslint-plugin-vue'
import vueParser from 'vue-eslint-parser'
import prettier from 'eslint-config-prettier'
import globals from 'globals'

export default tseslint.config(
  {
    ignores: ['out/**', 'dist/**', 'node_modules/**', 'artifacts/**', 'bench/results/**', 'test-results/**']
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...vue.configs['flat/recommended'],
  {
    files: ['**/*.vue'],
    languageOptions: { parser: vueParser, parserOptions: { parser: tseslint.parser, sourceType: 'module' } }
  },
  {
    languageOptions: { globals: { ...globals.node } }
  },
  {
    files: ['src/renderer/**', 'e2e/fixtures/**'],
    languageOptions: { globals: { ...globals.browser } }
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'vue/multi-word-component-names': 'off'
    }
  },
  {
    // Layering of DESIGN.md: only the thin electron layer and the preload may import electron.
    files: [
      'src/shared/**',
      'src/renderer/**',
      'src/main/channel/**',
      'src/main/core/**',
      'src/main/host/**',
      'src/main/cli/**'
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'electron',
              message: 'only src/main/electron, src/main/index.ts and src/preload may import electron'
            }
          ]
        }
      ]
    }
  },
  {
    files: ['src/renderer/src/components/**', 'src/renderer/src/views/**', 'src/renderer/src/*.vue'],
    rules: {
      'no-restricted-globals': [
        'error',
        { name: 'api', message: 'components use stores; only the bridge service talks to the host' }
      ],
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/services/bridge'], message: 'components use stores, not the bridge' }] }
      ]
    }
  },
  prettier
)
