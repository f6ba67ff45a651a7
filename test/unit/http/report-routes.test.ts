/**
 * The report route's choices, pure: the format a request asks for (`?format=`, else Accept by quality, else Markdown)
 * and the base URL its commands and links use (publicUrl, else the request's own host when it is a plain host).
 */
import { describe, expect, it } from 'vitest';
import { apiBaseUrl, reportFormat } from '../../../src/http/report-routes.js';

describe('reportFormat', () => {
  it('a browser gets HTML; text/markdown, */*, JSON or nothing get Markdown', () => {
    expect(reportFormat(undefined, 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8')).toBe('html');
    expect(reportFormat(undefined, 'application/xhtml+xml')).toBe('html');
    expect(reportFormat(undefined, 'text/markdown')).toBe('md');
    expect(reportFormat(undefined, '*/*')).toBe('md');
    expect(reportFormat(undefined, 'application/json')).toBe('md');
    expect(reportFormat(undefined, undefined)).toBe('md');
  });

  it('by quality, the first listed on a tie; q=0 refuses', () => {
    expect(reportFormat(undefined, 'text/html;q=0.5, text/markdown')).toBe('md');
    expect(reportFormat(undefined, 'text/markdown;q=0.4, TEXT/HTML;q=0.9')).toBe('html');
    expect(reportFormat(undefined, 'text/markdown, text/html')).toBe('md');
    expect(reportFormat(undefined, 'text/html;q=0')).toBe('md');
  });

  it('?format= wins over Accept; an unknown one is undefined (400)', () => {
    expect(reportFormat('html', 'text/markdown')).toBe('html');
    expect(reportFormat('md', 'text/html')).toBe('md');
    expect(reportFormat('json', 'text/html')).toBe('json');
    expect(reportFormat('markdown', undefined)).toBe('md');
    expect(reportFormat('sources', undefined)).toBe('sources');
    expect(reportFormat('pdf', 'text/html')).toBeUndefined();
  });
});

describe('apiBaseUrl', () => {
  it('publicUrl without its trailing slash, else the host the request came to, never a Host that is not one', () => {
    expect(apiBaseUrl('https://vigil.example.com/', { protocol: 'http', host: 'x' })).toBe('https://vigil.example.com');
    expect(apiBaseUrl(undefined, { protocol: 'http', host: '127.0.0.1:8080' })).toBe('http://127.0.0.1:8080');
    expect(apiBaseUrl(undefined, { protocol: 'http', host: '[::1]:8080' })).toBe('http://[::1]:8080');
    expect(apiBaseUrl(undefined, { protocol: 'http', host: "evil.com'$(id)" })).toBe('http://VIGIL_API');
    expect(apiBaseUrl(undefined, { protocol: 'http', host: 'a.com/`x`' })).toBe('http://VIGIL_API');
  });
});
